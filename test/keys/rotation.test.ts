import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeFlow } from '../support/flows.ts';
import { discover, kidOf, oidc, verifyJwt } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ADA, BILLING, createWebClient, jwksKids, m2mToken, setUpWorker, type Worker } from '../support/fixtures.ts';

const DAY = 86_400;
const HOUR = 3_600;
// Interval 1 day, published 1 hour ahead, JWKS cached 10 minutes; tokens live 15 minutes.
const ENV = {
  KEY_ROTATION_INTERVAL_SECONDS: String(DAY),
  KEY_PREPUBLISH_SECONDS: String(HOUR),
  JWKS_MAX_AGE_SECONDS: '600',
  KEY_RELOAD_SECONDS: '60',
  ACCESS_TOKEN_TTL_SECONDS: '900',
  ID_TOKEN_TTL_SECONDS: '900',
};
const RETENTION = 900 + 60 + 15;

describe.each(DATABASES)('signing key lifecycle on a controllable clock (%s)', (kind) => {
  let server: TestServer;
  let now = new Date();
  const advanceTo = (date: Date) => (now = date);
  const seconds = (n: number) => new Date(now.getTime() + n * 1000);
  let worker: Worker;
  const states = async () => Object.fromEntries((await server.services.signingKeys.list()).map((k) => [k.kid, k.state]));

  beforeAll(async () => {
    server = await startTestServer(kind, ENV, { clock: () => now });
    worker = await setUpWorker(server);
  });
  afterAll(() => server?.stop());

  it('publishes the next key before it signs, signs with it on schedule, and removes the old one after its tokens expired', async () => {
    const start = now;
    const [k1] = await jwksKids(server);
    const oldToken = await m2mToken(server, worker);
    expect(kidOf(oldToken)).toBe(k1);

    // Nothing is due yet.
    expect(await server.app.ostiary.keys.run()).toEqual([]);

    // One hour before k1 is due to retire, k2 is published but does not sign.
    advanceTo(new Date(start.getTime() + (DAY - HOUR + 1) * 1000));
    const published = await server.app.ostiary.keys.run();
    expect(published).toEqual([{ kid: expect.any(String), from: null, to: 'next' }]);
    const k2 = published[0]!.kid;
    expect(await jwksKids(server)).toEqual([k1, k2]);
    expect(kidOf(await m2mToken(server, worker))).toBe(k1);

    // At k1's retirement time k2 takes over; k1 stays published and its tokens still verify.
    advanceTo(new Date(start.getTime() + (DAY + 1) * 1000));
    expect(await server.app.ostiary.keys.run()).toEqual([
      { kid: k2, from: 'next', to: 'current' },
      { kid: k1, from: 'current', to: 'retired' },
    ]);
    expect(await states()).toEqual({ [k1!]: 'retired', [k2]: 'current' });
    expect(await jwksKids(server)).toEqual([k2, k1]);
    expect(kidOf(await m2mToken(server, worker))).toBe(k2);
    await expect(verifyJwt(server.issuer, oldToken, BILLING)).resolves.toBeTruthy();

    // Just before every token k1 signed has expired it is still there; then it goes.
    advanceTo(seconds(RETENTION - 5));
    expect(await server.app.ostiary.keys.run()).toEqual([]);
    expect(await jwksKids(server)).toContain(k1);
    advanceTo(seconds(10));
    expect(await server.app.ostiary.keys.run()).toEqual([{ kid: k1, from: 'retired', to: 'removed' }]);
    expect(await jwksKids(server)).toEqual([k2]);
    await expect(verifyJwt(server.issuer, oldToken, BILLING)).rejects.toThrow();
  });

  it('keeps no private key material in the clear across rotations', async () => {
    await server.services.signingKeys.rotate(TEST_ACTOR);
    await server.app.ostiary.keys.run();
    const privateKeys = (await server.services.signingKeys.privateJwks()).keys;
    expect(privateKeys.length).toBeGreaterThanOrEqual(2);
    const rows = JSON.stringify(await server.services.db.signingKey.findMany());
    for (const key of privateKeys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) expect(rows).not.toContain(key[member]!);
    }
  });

  it('serves the JWKS with a max-age below the lead time and an ETag that revalidates', async () => {
    const response = await fetch(`${server.issuer}/jwks`);
    expect(response.headers.get('cache-control')).toBe('public, max-age=600');
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    // fetch() adds "cache-control: no-cache" to conditional requests unless one is given.
    const revalidate = { 'if-none-match': etag!, 'cache-control': 'max-age=0' };
    const again = await fetch(`${server.issuer}/jwks`, { headers: revalidate });
    expect(again.status).toBe(304);
    await server.services.signingKeys.rotate(TEST_ACTOR);
    await server.app.ostiary.keys.run();
    const changed = await fetch(`${server.issuer}/jwks`, { headers: revalidate });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });
});

describe.each(DATABASES)('emergency key revocation (%s)', (kind) => {
  let server: TestServer;
  let worker: Worker;

  beforeAll(async () => {
    server = await startTestServer(kind, ENV);
    worker = await setUpWorker(server);
  });
  afterAll(() => server?.stop());

  it('revokes a key at once: gone from the JWKS, replaced for signing, its grants revoked', async () => {
    const { users, signingKeys } = server.services;
    await users.create(ADA, TEST_ACTOR);
    const web = await createWebClient(server);
    const rp = await discover(server.issuer, web.id, web.secret);
    const { tokens } = await codeFlow(rp, ADA);
    const [compromised] = await jwksKids(server);
    expect(kidOf(tokens.id_token!)).toBe(compromised);

    const result = await signingKeys.revoke(compromised!, TEST_ACTOR);
    expect(result.revokedGrants).toBeGreaterThanOrEqual(1);
    await server.app.ostiary.keys.run();
    const kids = await jwksKids(server);
    expect(kids).not.toContain(compromised);
    expect(kids[0]).toBe(result.current);
    expect(kidOf(await m2mToken(server, worker))).toBe(result.current);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await signingKeys.list()).find((k) => k.kid === compromised)).toMatchObject({ state: 'removed', revokedAt: expect.any(Date) });
  });
});
