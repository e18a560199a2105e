/**
 * A minimal browser for protocol tests: keeps cookies, follows redirects by hand and submits
 * the login and consent forms the way a person's browser would (real HTTP, no shortcuts).
 * The real-browser test (test/browser) covers the same pages in Chromium.
 */
export class UserAgent {
  private readonly cookies = new Map<string, string>();

  /** The value of a cookie this browser holds. */
  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(index + 1).trim());
    }
    return response;
  }

  /** Follows redirects until a page is shown or the browser is sent to `stopAt` (not fetched). */
  async follow(start: string | URL, stopAt: string, init?: RequestInit): Promise<{ url: string; response?: Response; body?: string }> {
    let url = new URL(start).toString();
    let response = await this.request(url, init);
    for (let hops = 0; response.status >= 300 && response.status < 400; hops += 1) {
      if (hops > 10) throw new Error('too many redirects');
      url = new URL(response.headers.get('location')!, url).toString();
      if (url.startsWith(stopAt)) return { url };
      response = await this.request(url);
    }
    return { url, response, body: await response.text() };
  }

  async submit(pageUrl: string, body: string, formAction: RegExp, fields: Record<string, string>, stopAt: string) {
    const action = body.match(formAction)?.[1];
    if (!action) throw new Error(`no form matching ${formAction} on ${pageUrl}`);
    // Like a browser, send the form's hidden CSRF field along with what the person typed.
    const csrf = body.match(/name="csrf" value="([^"]+)"/)?.[1];
    return this.follow(new URL(action, pageUrl), stopAt, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...(csrf ? { csrf } : {}), ...fields }).toString(),
    });
  }
}

export const LOGIN_FORM = /<form method="post" action="([^"]+\/login)"/;
export const CONSENT_FORM = /<form method="post" action="([^"]+\/consent)"/;

/**
 * Runs the user's side of an authorization request: sign in, consent when asked, and return the
 * URL the browser is finally sent to (the client's redirect URI with code or error).
 */
export async function authorize(
  agent: UserAgent,
  authorizationUrl: URL,
  redirectUri: string,
  credentials: { email: string; password: string },
): Promise<{ callbackUrl: string; sawConsent: boolean }> {
  let step = await agent.follow(authorizationUrl, redirectUri);
  let sawConsent = false;
  if (step.body && LOGIN_FORM.test(step.body)) {
    step = await agent.submit(step.url, step.body, LOGIN_FORM, credentials, redirectUri);
  }
  if (step.body && CONSENT_FORM.test(step.body)) {
    sawConsent = true;
    step = await agent.submit(step.url, step.body, CONSENT_FORM, {}, redirectUri);
  }
  if (step.response) throw new Error(`expected a redirect to the client, got ${step.response.status} at ${step.url}: ${step.body?.slice(0, 300)}`);
  return { callbackUrl: step.url, sawConsent };
}
