import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { I18n } from '../i18n/index.ts';
import type { Views } from '../views/index.ts';
import { providerPageLocals } from './page-locale.ts';

type DeviceFlow = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;

/** The device pages' paths: the user-code page and its resumption, not the device's own endpoint. */
export const isDevicePage = (path: string) => path === '/device' || (path.startsWith('/device/') && path !== '/device/auth');

const REFUSED_CODE = 'device:refused_code';
const CANCELLED = 'device:cancelled';
const NOT_ACCEPTED = 'device:not_accepted';
const FAILED = 'device:failed';
const START_AGAIN = 'device:start_again';
/** Errors the provider raises about the entered code itself. */
const CODE_ERRORS = new Set(['NoCodeError', 'NotFoundError', 'ExpiredError', 'AlreadyUsedError']);
/** Longer than any user code we hand out (eight characters and a dash), with room for spaces. */
const MAX_USER_CODE = 32;

/** The catalogue key of what the input page says about the last attempt. */
function notice(ctx: KoaContextWithOIDC, err: Error | undefined): { error?: string; info?: string } {
  if (!err) return {};
  if (err.name === 'AbortedError') return { info: CANCELLED };
  if (CODE_ERRORS.has(err.name)) {
    ctx.status = 400;
    return { error: REFUSED_CODE };
  }
  return { error: ctx.status >= 500 ? FAILED : NOT_ACCEPTED };
}

/** The state secret is the provider's XSRF value for these forms (it checks it on every post). */
const xsrfOf = (ctx: KoaContextWithOIDC) => String((ctx.oidc.session?.state as { secret?: unknown } | undefined)?.secret ?? '');

/**
 * RFC 8628 device authorization with our own pages (the provider's carry inline handlers our
 * CSP refuses). A verification_uri_complete link (`/device?user_code=...`) shows the code filled
 * in, instead of the provider's self-submitting page, which needs an inline script.
 */
export function deviceFlow(views: Views, i18n: I18n): DeviceFlow {
  const localsOf = providerPageLocals(i18n);
  async function render(ctx: KoaContextWithOIDC, page: string, data: Record<string, unknown>) {
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    ctx.body = await views.render(page, { ...localsOf(ctx), action: ctx.oidc.urlFor('code_verification'), xsrf: xsrfOf(ctx), ...data });
  }
  return {
    enabled: true,
    async userCodeInputSource(ctx, _form, _out, err) {
      const session = ctx.oidc.session as unknown as { exp?: number; touched?: boolean } | undefined;
      if (err && session && typeof session.exp !== 'number') {
        // A post without the page's session cookie: the provider cannot store the new form's XSRF
        // value (it fails trying), so there is no form to offer, only the way back to the page.
        session.touched = false;
        if (ctx.status < 400) ctx.status = 400;
        ctx.type = 'html';
        ctx.set('cache-control', 'no-store');
        const locals = localsOf(ctx);
        ctx.body = await views.render('error', { ...locals, message: locals.t(ctx.status >= 500 ? FAILED : START_AGAIN) });
        return;
      }
      const entered = (err as { userCode?: unknown } | undefined)?.userCode ?? ctx.state.userCode;
      const userCode = typeof entered === 'string' && entered.length <= MAX_USER_CODE ? entered : '';
      const { error, info } = notice(ctx, err);
      const { t } = localsOf(ctx);
      await render(ctx, 'device', { userCode, error: error && t(error), info: info && t(info) });
    },
    async userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
      await render(ctx, 'device-confirm', { clientName: client.clientName ?? client.clientId, userCode });
    },
    async successSource(ctx) {
      await render(ctx, 'device-done', { clientName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId });
    },
  };
}

/** Takes the user code of a verification_uri_complete link out of the query, for the input page to show. */
export async function prefillUserCode(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
  if (ctx.method === 'GET' && ctx.path === '/device' && ctx.query.user_code !== undefined) {
    ctx.state.userCode = ctx.query.user_code;
    ctx.querystring = '';
  }
  await next();
}
