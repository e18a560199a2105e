import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { ADA, createWebClient } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover, oidc } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const TABLES = ['Client', 'User', 'Api', 'ApiScope', 'SigningKey', 'OidcPayload'];

/** Every row of every table, as text: what a stolen database copy would show. */
async function dumpTables(server: TestServer): Promise<string> {
  const rows = await Promise.all(TABLES.map((t) => server.services.db.$queryRawUnsafe<unknown[]>(`SELECT * FROM "${t}"`)));
  return JSON.stringify(rows, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
}

describe.each(DATABASES)('secrets at rest (%s)', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(() => server?.stop());

  it('stores no private key, client secret, password, code or token in the clear', async () => {
    const { users, signingKeys } = server.services;
    await users.create(ADA, TEST_ACTOR);
    const web = await createWebClient(server);
    const rp = await discover(server.issuer, web.id, web.secret);
    const { code, tokens } = await codeFlow(rp, ADA);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const [privateJwk] = (await signingKeys.privateJwks()).keys;

    const dump = await dumpTables(server);
    expect(dump).toContain(web.id); // the dump is real
    expect(dump).toContain('RefreshToken');
    const secrets = {
      'private key (d)': privateJwk!.d!,
      'private key (p)': privateJwk!.p!,
      'client secret': web.secret,
      password: ADA.password,
      'authorization code': code,
      'refresh token': tokens.refresh_token!,
      'rotated refresh token': refreshed.refresh_token!,
      'userinfo access token': tokens.access_token,
    };
    for (const [label, secret] of Object.entries(secrets)) {
      expect(secret.length, label).toBeGreaterThan(20);
      expect(dump.includes(secret), `${label} found in the database`).toBe(false);
    }
    expect(dump).toContain('$argon2id$');
  });
});
