import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ACTOR } from '../support/actor.ts';
import { DATABASES } from '../support/databases.ts';
import { ADA, createWebClient, type Credentials } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { eventually } from '../mail/support.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { UserAgent } from '../support/user-agent.ts';
import { inProcess } from '../support/cli.ts';
import { REDIRECT } from '../support/flows.ts';

const LOGGED_OUT = 'https://app.example.com/bye';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A relying party's back-channel logout endpoint: keeps each logout token it is posted; refuses the first `failFirst` posts with 500. */
async function startLogoutEndpoint(port: number, failFirst = 0) {
  const received: string[] = [];
  let refused = 0;
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (refused < failFirst) {
        refused += 1;
        return response.writeHead(500).end();
      }
      received.push(new URLSearchParams(body).get('logout_token') ?? '');
      response.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { received, url: `http://localhost:${port}/backchannel`, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe.each(DATABASES)('back-channel logout (%s)', (kind) => {
  let server: TestServer;
  let endpoint: Awaited<ReturnType<typeof startLogoutEndpoint>>;
  let web: Credentials;

  beforeAll(async () => {
    server = await startTestServer(kind);
    // The first post fails: the token comes again a second later.
    endpoint = await startLogoutEndpoint(await freePort(), 1);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { firstParty: true, postLogoutRedirectUris: [LOGGED_OUT], backchannelLogoutUri: endpoint.url });
  });
  afterAll(async () => {
    await endpoint?.close();
    await server?.stop();
  });

  const verify = async (token: string): Promise<JWTPayload> =>
    (await jwtVerify(token, createRemoteJWKSet(new URL(`${server.url}/jwks`)), { issuer: server.issuer, audience: web.id, typ: 'logout+jwt' })).payload;

  it('discovery says so, and the client carries the URI', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });
    expect((await server.services.clients.list()).find((c) => c.clientId === web.id)?.backchannelLogoutUri).toBe(endpoint.url);
    await expect(server.services.clients.update(web.id, { backchannelLogoutUri: 'http://evil.example/x' }, TEST_ACTOR)).rejects.toMatchObject({ code: 'client.backchannel_logout_uri_invalid' });
    const env = { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url, LOG_LEVEL: 'silent' };
    const cli = await inProcess(['clients', 'create', '--name', 'cli-app', '--grant', 'authorization_code', '--redirect-uri', REDIRECT, '--backchannel-logout-uri', 'https://app.example.com/bcl', '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ backchannel_logout_uri: 'https://app.example.com/bcl' });
  });

  it('posts a logout token when the person signs out, outside the sign-out request, retried after a refusal and audited', async () => {
    const agent = new UserAgent();
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA, { agent });
    const sid = tokens.claims()!.sid;
    expect(sid).toEqual(expect.any(String));

    const page = await agent.follow(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT }), LOGGED_OUT);
    const xsrf = page.body!.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const done = await agent.submit(page.url, page.body!, /<form [^>]*action="([^"]+)"/, { xsrf, logout: 'yes' }, LOGGED_OUT);
    expect(done.url).toBe(LOGGED_OUT);

    const token = await eventually(() => endpoint.received[0], 'the logout token');
    const claims = await verify(token);
    expect(claims).toMatchObject({ sub: tokens.claims()!.sub, sid, events: { [EVENT]: {} } });
    expect(claims.nonce).toBeUndefined();
    const [sent] = await eventually(async () => {
      const events = await server.services.audit.list({ type: 'logout.backchannel_sent' });
      return events.length ? events : undefined;
    }, 'the audit event');
    expect(sent).toMatchObject({ outcome: 'success', actor: 'system', clientId: web.id, details: { attempts: 2 } });
  });

  it('posts one when Ostiary ends the sessions itself (signing out everywhere, a disabled person)', async () => {
    const before = endpoint.received.length;
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA);
    const { id } = await server.services.users.resolve(ADA.email);
    await server.services.accounts.endSessions(id, TEST_ACTOR);
    const token = await eventually(() => endpoint.received[before], 'the logout token');
    expect(await verify(token)).toMatchObject({ sub: id, sid: tokens.claims()!.sid });

    const second = await codeFlow(rp, ADA);
    await server.services.users.update(id, { disabled: true }, TEST_ACTOR);
    const disabled = await eventually(() => endpoint.received[before + 1], 'the logout token of the disabled person');
    expect(await verify(disabled)).toMatchObject({ sub: id, sid: second.tokens.claims()!.sid });
    await server.services.users.update(id, { disabled: false }, TEST_ACTOR);
  });
});
