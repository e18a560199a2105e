import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { CONSENT_FORM, LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

const LOOPBACK = ['http://127.0.0.1:8123/cb', 'http://[::1]:8123/cb', 'http://localhost:8123/cb', 'https://127.9.9.9/cb', 'https://dev.localhost/cb'];
const NOT_LOOPBACK = [REDIRECT, 'https://10.0.0.1/cb', 'https://localhost.example.com/cb'];

/** The text a person reads on the page, tags dropped, spaces collapsed. */
const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('the consent page says where the person is sent', () => {
  let server: TestServer;
  let web: Credentials;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { name: 'Agent', grantTypes: ['authorization_code'], redirectUris: [...NOT_LOOPBACK, ...LOOPBACK] });
  });
  afterAll(() => server?.stop());

  /** Signs in up to the consent page for `redirectUri`, then allows; returns the page and where the browser went. */
  async function consentFor(redirectUri: string) {
    const rp = await discover(server.issuer, web.id, web.secret);
    const agent = new UserAgent();
    const login = await agent.follow((await startFlow(rp, { redirect_uri: redirectUri })).url, redirectUri);
    const consent = await agent.submit(login.url, login.body!, LOGIN_FORM, ADA, redirectUri);
    expect(consent.body).toMatch(CONSENT_FORM);
    const allowed = await agent.submit(consent.url, consent.body!, CONSENT_FORM, {}, redirectUri);
    return { html: consent.body!, text: textOf(consent.body!), sentTo: new URL(allowed.url) };
  }

  it.each(NOT_LOOPBACK)('names the host of %s, without a warning', async (redirectUri) => {
    const { html, text, sentTo } = await consentFor(redirectUri);
    const host = new URL(redirectUri).host;
    expect(text).toContain(`Afterwards you are sent to ${host} .`);
    expect(html).not.toContain('class="warning"');
    expect(html).toContain('aria-describedby="destination"');
    expect(sentTo.host).toBe(host);
  });

  it.each(LOOPBACK)('warns that %s is this computer, and ties the warning to the Allow button', async (redirectUri) => {
    const { html, text, sentTo } = await consentFor(redirectUri);
    const host = new URL(redirectUri).host;
    expect(text).toContain(`Afterwards you are sent to ${host} .`);
    expect(text).toContain(`Warning: ${host} is this computer (a loopback address)`);
    expect(html).toMatch(/<p class="warning" id="destination-warning">/);
    expect(html).toMatch(/<button type="submit" autofocus aria-describedby="destination destination-warning">Allow<\/button>/);
    expect(sentTo.host).toBe(host);
  });
});
