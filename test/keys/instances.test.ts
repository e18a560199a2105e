import { TEST_ACTOR } from '../support/actor.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BILLING, jwksKids, m2mToken, setUpWorker, type Worker } from '../support/fixtures.ts';
import { kidOf, verifyJwt } from '../support/relying-party.ts';
import { startInstances, type TestServer } from '../support/server.ts';

const RELOAD_SECONDS = 2;
const ENV = { KEY_RELOAD_SECONDS: String(RELOAD_SECONDS), JWKS_MAX_AGE_SECONDS: '60', KEY_PREPUBLISH_SECONDS: '3600' };

describe('two instances on one PostgreSQL database agree on the signing key', () => {
  let cluster: Awaited<ReturnType<typeof startInstances>>;
  let a: TestServer;
  let b: TestServer;
  let worker: Worker;

  beforeAll(async () => {
    cluster = await startInstances(2, ENV);
    [a, b] = cluster.instances as [TestServer, TestServer];
    worker = await setUpWorker(a);
  });
  afterAll(() => cluster?.stop());

  it('signs with the key another instance rotated to, within the reload bound, without a restart', async () => {
    const before = await jwksKids(b);
    expect(await jwksKids(a)).toEqual(before);

    const { current, rotated } = await a.services.signingKeys.rotate(TEST_ACTOR);
    expect(rotated).toBe(true);
    expect(current).not.toBe(before[0]);

    // b polls on its own timer; it must be signing with the new key by the bound.
    const deadline = Date.now() + RELOAD_SECONDS * 1000 + 1000;
    let kid = kidOf(await m2mToken(b, worker));
    while (kid !== current && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      kid = kidOf(await m2mToken(b, worker));
    }
    expect(kid).toBe(current);
    expect((await jwksKids(b))[0]).toBe(current);
    // a rotated through its services, so it too publishes the new key on its own timer, within the bound.
    while (!(await jwksKids(a)).includes(current) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await jwksKids(a)).toContain(current);
    // A token b signed verifies against a's JWKS.
    await expect(verifyJwt(b.issuer, await m2mToken(b, worker), BILLING, 'at+jwt', a.issuer)).resolves.toBeTruthy();
  });

  it('performs one rotation when both instances rotate at once', async () => {
    const keysBefore = await a.services.signingKeys.list();
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).services.signingKeys.rotate(TEST_ACTOR)),
    );
    expect(attempts.filter((r) => r.rotated)).toHaveLength(1);
    const keysAfter = await a.services.signingKeys.list();
    expect(keysAfter).toHaveLength(keysBefore.length + 1);
    expect(keysAfter.filter((k) => k.state === 'current')).toHaveLength(1);
    expect(keysAfter.filter((k) => k.state === 'next')).toHaveLength(0);
  });

  it('performs each scheduled transition once when both timers fire together', async () => {
    const results = await Promise.all([a.app.ostiary.keys.run(), b.app.ostiary.keys.run(), a.services.signingKeys.tick(), b.services.signingKeys.tick()]);
    const transitions = results.flat();
    // Nothing is due now; running everything at once must not invent a transition either.
    expect(transitions.filter((t) => t.to !== 'removed')).toEqual([]);
    expect((await a.services.signingKeys.list()).filter((k) => k.state === 'current')).toHaveLength(1);
  });
});
