import { createHash } from 'node:crypto';
import { errors } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientStore } from '../../src/clients/index.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/index.ts';
import { createAdapterFactory } from '../../src/oidc/adapter.ts';
import { createProviderStore } from '../../src/provider-store/index.ts';
import { createTestDatabase, DATABASES, type TestDatabase } from '../support/databases.ts';

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

describe.each(DATABASES)('Prisma adapter (%s)', (kind) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let adapterFor: ReturnType<typeof createAdapterFactory>;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    handle = await openDatabase(database.url, { migrate: true });
    adapterFor = createAdapterFactory(createProviderStore(handle.db), createClientStore(handle.db));
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  it('keys bearer models by a SHA-256 of the id and keeps no jti, yet find returns it', async () => {
    const tokens = adapterFor('RefreshToken');
    await tokens.upsert('rt-secret-value-1', { jti: 'rt-secret-value-1', grantId: 'g1', kind: 'RefreshToken' }, 60);
    const row = await handle.db.oidcPayload.findFirstOrThrow({ where: { type: 'RefreshToken', grantId: 'g1' } });
    expect(row.id).toBe(sha256('rt-secret-value-1'));
    expect(JSON.stringify(row)).not.toContain('rt-secret-value-1');
    expect(await tokens.find('rt-secret-value-1')).toMatchObject({ jti: 'rt-secret-value-1', grantId: 'g1' });
    expect(await tokens.find(sha256('rt-secret-value-1'))).toBeUndefined();
  });

  it('stores sessions under their own id and finds them by uid', async () => {
    const sessions = adapterFor('Session');
    await sessions.upsert('sess-1', { jti: 'sess-1', uid: 'uid-1', kind: 'Session' }, 60);
    expect(await sessions.findByUid('uid-1')).toMatchObject({ jti: 'sess-1', uid: 'uid-1' });
    expect(await adapterFor('Interaction').findByUid('uid-1')).toBeUndefined();
  });

  it('treats expired rows as absent', async () => {
    const codes = adapterFor('AuthorizationCode');
    await codes.upsert('code-expired', { jti: 'code-expired', kind: 'AuthorizationCode' }, 60);
    expect(await codes.find('code-expired')).toBeDefined();
    await handle.db.oidcPayload.updateMany({ where: { id: sha256('code-expired') }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await codes.find('code-expired')).toBeUndefined();
  });

  it('consumes exactly once when many redeem the same code at the same moment', async () => {
    const codes = adapterFor('AuthorizationCode');
    await codes.upsert('code-race', { jti: 'code-race', kind: 'AuthorizationCode' }, 60);
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => codes.consume('code-race')));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(11);
    for (const failure of lost) expect(failure.reason).toBeInstanceOf(errors.InvalidGrant);
    expect((await codes.find('code-race'))?.consumed).toEqual(expect.any(Number));
  });

  it('refuses to redeem a device code by the stand-in id it is found under by user code', async () => {
    const codes = adapterFor('DeviceCode');
    await codes.upsert('device-code-secret-1', { jti: 'device-code-secret-1', kind: 'DeviceCode', userCode: 'WDJBMJHT', accountId: 'ada' }, 60);
    const found = await codes.findByUserCode('WDJBMJHT');
    expect(found?.jti).toBe(`:${sha256('device-code-secret-1')}`);
    await expect(codes.consume(found!.jti!)).rejects.toBeInstanceOf(errors.InvalidGrant);
    await codes.consume('device-code-secret-1');
    expect((await codes.find('device-code-secret-1'))?.consumed).toEqual(expect.any(Number));
  });

  it('revokes by grant id only the rows of its own model', async () => {
    const access = adapterFor('AccessToken');
    const refresh = adapterFor('RefreshToken');
    const interactions = adapterFor('Interaction');
    await access.upsert('at-g2', { jti: 'at-g2', grantId: 'g2' }, 60);
    await refresh.upsert('rt-g2', { jti: 'rt-g2', grantId: 'g2' }, 60);
    await access.upsert('at-g3', { jti: 'at-g3', grantId: 'g3' }, 60);
    await interactions.upsert('int-g2', { jti: 'int-g2', grantId: 'g2' }, 60);
    await access.revokeByGrantId('g2');
    expect(await access.find('at-g2')).toBeUndefined();
    expect(await access.find('at-g3')).toBeDefined();
    expect(await refresh.find('rt-g2')).toBeDefined();
    expect(await interactions.find('int-g2')).toBeDefined();
  });

  it('destroys idempotently', async () => {
    const grants = adapterFor('Grant');
    await grants.upsert('grant-x', { jti: 'grant-x', kind: 'Grant' }, 60);
    await grants.destroy('grant-x');
    await grants.destroy('grant-x');
    expect(await grants.find('grant-x')).toBeUndefined();
  });

  it('reads clients from the client table and refuses to write them', async () => {
    const clients = adapterFor('Client');
    expect(await clients.find('missing')).toBeUndefined();
    await expect(clients.upsert('x', { client_id: 'x' })).rejects.toThrow(/managed by Ostiary/);
  });
});
