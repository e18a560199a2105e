import { TEST_ACTOR } from '../support/actor.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { ADA, basicAuth, createWebClient } from '../support/fixtures.ts';
import { codeFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { freePort } from '../support/server.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const GRANTS = 24;

describe('kill -9 during a stream of refresh requests', () => {
  let database: TestDatabase;
  let services: Services;
  let env: Record<string, string>;
  let url: string;
  let child: ChildProcess | undefined;

  async function start() {
    child = spawn(process.execPath, [MAIN, 'serve'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
    for (let i = 0; i < 100; i += 1) {
      if (await fetch(`${url}/readyz`).then((r) => r.ok).catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('server did not start');
  }

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = { PORT: String(port), ISSUER: url, DATA_DIR: database.dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'silent', RATE_LIMIT_TOKEN_PER_CLIENT: '10000', RATE_LIMIT_TOKEN_PER_IP: '10000', RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000', RATE_LIMIT_LOGIN_PER_IP: '1000', RATE_LIMIT_AUTHORIZE_PER_IP: '10000' };
    services = await createServices(loadConfig(env), { info: () => {}, warn: () => {} }, { migrate: true });
    await start();
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await services?.close();
    await database?.drop();
  });

  it('keeps every refresh token it answered 200 with: each redeems exactly once after the restart', async () => {
    await services.users.create(ADA, TEST_ACTOR);
    const web = await createWebClient({ services });
    const rp = await discover(url, web.id, web.secret);
    const refreshTokens: string[] = [];
    // A browser each, so each refresh token has a grant of its own (a reuse check revokes only its grant).
    for (let i = 0; i < GRANTS; i += 1) {
      const { tokens } = await codeFlow(rp, ADA);
      refreshTokens.push(tokens.refresh_token!);
    }

    const refresh = (token: string) =>
      fetch(`${url}/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(web.id, web.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }),
      });
    // A stream: one refresh every few milliseconds; the process is killed part way through.
    const answered: string[] = [];
    const stream = refreshTokens.map(async (token, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 15));
      try {
        const response = await refresh(token);
        if (response.status === 200) answered.push(((await response.json()) as { refresh_token: string }).refresh_token);
      } catch {
        // connection cut by the kill: the client never learned a new token
      }
    });
    // Killed once a few have been answered, while the rest are still coming.
    for (let waited = 0; answered.length < 3 && waited < 5000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    child!.kill('SIGKILL');
    await Promise.all(stream);
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.length).toBeLessThan(GRANTS);

    await start();
    for (const token of answered) {
      expect((await refresh(token)).status).toBe(200);
      expect((await refresh(token)).status).toBe(400);
    }
    console.info(`crash test: ${answered.length} of ${GRANTS} refreshes answered before the kill; each redeemed exactly once after restart`);
  });
});
