import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, issueKey } from '../admin/support.ts';
import { TEST_ACTOR } from '../support/actor.ts';
import { ADA, BILLING, createWebClient, postForm, setUpWorker, type Credentials } from '../support/fixtures.ts';
import { codeFlow, REDIRECT, startFlow } from '../support/flows.ts';
import { discover } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LOGIN_FORM, UserAgent } from '../support/user-agent.ts';

/** Why mount is refused here (not root, no capability), or undefined when it works: tried on a tmpfs at once undone. */
function mountRefused(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'ostiary-mount-check-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status === 0) return void spawnSync('umount', [dir]);
    if (/permission denied|must be superuser|EPERM|not permitted/i.test(mounted.stderr)) return mounted.stderr.trim();
    throw new Error(`mount failed: ${mounted.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A small ext4 file system of the test's own on a loop device. Not tmpfs: Linux refuses to remount
 * a file system read-only while a process holds a file on it open for writing ("mount point is
 * busy"), and tmpfs ignores the immutable attribute for files already open; ext4 enforces it, so
 * `chattr +i` makes the database refuse writes under the running server, and `chattr -i` undoes it.
 */
function ownFileSystem(dir: string, image: string): void {
  execFileSync('truncate', ['-s', '16m', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
}

const refused = mountRefused();
if (refused) console.log(`skipped: SQLite disk-full and read-only tests need mount (${refused})`);

const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable. Try again shortly.' };

/** Writes until the file system says ENOSPC. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(refused !== undefined)('SQLite on a full or read-only file system', () => {
  let dir = '';
  const image = () => `${dir}.img`;
  const database = () => `${dir}/ostiary.db`;
  const immutable = () => [database(), `${database()}-wal`, dir];
  let server: TestServer;
  let worker: Credentials;
  let web: Credentials;
  let adminKey: string;
  let refreshToken: string;
  let rp: Awaited<ReturnType<typeof discover>>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const ccForm = { grant_type: 'client_credentials', scope: 'invoices:read', resource: BILLING };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    dir = mkdtempSync(join(tmpdir(), 'ostiary-fault-'));
    ownFileSystem(dir, image());
    const data = { kind: 'sqlite' as const, url: `file:${database()}`, dataDir: dir, drop: async () => {} };
    server = await startTestServer('sqlite', {}, { database: data });
    worker = await setUpWorker(server);
    await server.services.users.create(ADA, TEST_ACTOR);
    web = await createWebClient(server, { scopes: ['invoices:read'] });
    adminKey = await issueKey(server, ['clients:write', 'clients:read']);
    rp = await discover(server.issuer, web.id, web.secret);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    if (!dir) return;
    spawnSync('chattr', ['-i', ...immutable()]);
    await server?.stop();
    // Lazily if need be: the database client leaves some of its files open after it is closed.
    if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
    rmSync(image(), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const refresh = () => postForm(server, '/token', web, { grant_type: 'refresh_token', refresh_token: refreshToken });
  const clientCount = async () => (await server.services.clients.list()).length;

  /** A refresh token, and a login page open in a browser, from before the fault. */
  async function beforeTheFault() {
    refreshToken = (await codeFlow(rp, ADA, { extra: { scope: 'openid invoices:read', resource: BILLING } })).tokens.refresh_token!;
    const agent = new UserAgent();
    const page = await agent.follow((await startFlow(rp)).url, REDIRECT);
    return { agent, page: page as { url: string; body: string } };
  }

  /** While the fault lasts: sign-in, refresh and admin writes answer 503, each front in its own shape. */
  async function expectUnavailable({ agent, page }: Awaited<ReturnType<typeof beforeTheFault>>) {
    const signIn = await agent.submit(page.url, page.body, LOGIN_FORM, ADA, REDIRECT);
    expect(signIn.response?.status).toBe(503);
    expect(signIn.response?.headers.get('retry-after')).toBe('5');
    expect(signIn.response?.headers.get('content-type')).toMatch(/^text\/html/);
    expect(signIn.body).toContain(UNAVAILABLE.error_description);

    const refreshed = await refresh();
    expect(refreshed.status).toBe(503);
    expect(refreshed.headers.get('retry-after')).toBe('5');
    expect(await refreshed.json()).toEqual(UNAVAILABLE);

    // Several at once, so that the database client opens new connections during the fault too.
    const attempts = await Promise.all(
      Array.from({ length: 6 }, () => admin(server, adminKey, 'POST', '/clients', { client_name: 'during the fault', grant_types: ['client_credentials'] })),
    );
    expect(attempts.map((attempt) => attempt.status)).toEqual(Array(6).fill(503));
    const created = attempts[0]!;
    expect(created.headers.get('retry-after')).toBe('5');
    expect(created.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(created.body).toMatchObject({ status: 503, detail: UNAVAILABLE.error_description });

    // Issuing a client_credentials token only reads; its audit row, written after the answer, is lost.
    expect((await postForm(server, '/token', worker, ccForm)).status).toBe(200);
    await server.services.audit.flush();
  }

  /** Once the fault is gone, with no restart: nothing was created by the refused write, and everything works again. */
  async function expectRecovered(clientsBefore: number, faultStart: Date) {
    expect(await clientCount()).toBe(clientsBefore);
    const issued = await server.services.audit.list({ type: 'token.issued', since: faultStart });
    expect(issued.filter((event) => event.clientId === worker.id)).toEqual([]);
    await codeFlow(rp, ADA);
    const created = await admin(server, adminKey, 'POST', '/clients', { client_name: 'after the fault', grant_types: ['client_credentials'] });
    expect(created.status).toBe(201);
    expect((await postForm(server, '/token', worker, ccForm)).status).toBe(200);
    expect(unhandled).toEqual([]);
  }

  it('answers 503 temporarily_unavailable while the disk is full, and recovers when space is freed', async () => {
    const clientsBefore = await clientCount();
    const open = await beforeTheFault();
    const faultStart = new Date();
    fillDisk(join(dir, 'filler'));
    await expectUnavailable(open);
    rmSync(join(dir, 'filler'));
    await expectRecovered(clientsBefore, faultStart);
  });

  it('answers 503 temporarily_unavailable while the database file refuses writes, and recovers when it accepts them again', async () => {
    const clientsBefore = await clientCount();
    const open = await beforeTheFault();
    const faultStart = new Date();
    execFileSync('chattr', ['+i', ...immutable()]);
    await expectUnavailable(open);
    execFileSync('chattr', ['-i', ...immutable()]);
    await expectRecovered(clientsBefore, faultStart);
  });
});
