import type { KoaContextWithOIDC } from 'oidc-provider';
import type { I18n, PageLocals } from '../i18n/index.ts';

type Params = Record<string, unknown> | undefined;

/**
 * The language of a page the provider renders itself: the `ui_locales` of its request (for the
 * device pages, of the device authorization request once its code is known), then
 * `Accept-Language`, then the default.
 */
export function providerPageLocals(i18n: I18n) {
  return (ctx: KoaContextWithOIDC): PageLocals => {
    // Pages for errors may come before the provider has read the request: every part is optional.
    const oidc = ctx.oidc as { params?: Params; entities?: { DeviceCode?: { params?: Params } } } | undefined;
    const uiLocales = oidc?.entities?.DeviceCode?.params?.ui_locales ?? oidc?.params?.ui_locales;
    return i18n.localsFor({ uiLocales, acceptLanguage: ctx.get('accept-language') });
  };
}
