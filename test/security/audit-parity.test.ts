import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, issueKey } from '../admin/support.ts';
import { ostiary } from '../support/cli.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const PASSWORD = 'correct horse battery staple';

/** One change after another through a front; returns the ids it was given back, to mask in the events. */
type Scenario = (tag: string) => Promise<string[]>;

describe('the same change through the CLI and through the admin API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { RATE_LIMIT_ADMIN_PER_KEY: '1000' });
  });
  afterAll(() => server?.stop());

  async function cli(args: string[], stdin?: string) {
    const run = await ostiary([...args, '--json'], { DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.url }, stdin);
    expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout) as Record<string, any>;
  }

  const throughCli: Scenario = async (tag) => {
    const api = await cli(['apis', 'create', '--name', `API ${tag}`, '--audience', `https://${tag}.example.com`, '--scope', `${tag}:read`]);
    await cli(['roles', 'create', '--name', tag, '--permission', `${tag}:read`]);
    const client = await cli(['clients', 'create', '--name', tag, '--grant', 'client_credentials', '--scope', `${tag}:read`]);
    await cli(['roles', 'grant', tag, '--client', client.client_id]);
    await cli(['roles', 'revoke', tag, '--client', client.client_id]);
    await cli(['clients', 'rotate-secret', client.client_id]);
    const user = await cli(['users', 'create', '--email', `${tag}@example.com`, '--password-stdin'], `${PASSWORD}\n`);
    await cli(['users', 'disable', user.id]);
    await cli(['users', 'set-password', user.id, '--password-stdin'], `${PASSWORD} 2\n`);
    await cli(['users', 'revoke-grants', user.id]);
    const key = await cli(['api-keys', 'create', '--name', tag, '--scope', 'clients:read']);
    const rotated = await cli(['api-keys', 'rotate', key.id]);
    await cli(['api-keys', 'revoke', rotated.id]);
    const signing = await cli(['keys', 'rotate']);
    await cli(['clients', 'delete', client.client_id]);
    await cli(['roles', 'delete', tag]);
    await cli(['apis', 'delete', api.id]);
    return [api.id, client.client_id, user.id, key.id, rotated.id, signing.current, signing.retired];
  };

  const throughAdminApi = (key: string): Scenario => async (tag) => {
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await admin(server, key, method, path, body);
      expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBeLessThan(300);
      return response.body;
    };
    const api = await call('POST', '/apis', { name: `API ${tag}`, audience: `https://${tag}.example.com`, scopes: [`${tag}:read`] });
    await call('POST', '/roles', { name: tag, permissions: [`${tag}:read`] });
    const client = await call('POST', '/clients', { client_name: tag, grant_types: ['client_credentials'], scope: `${tag}:read` });
    await call('POST', `/roles/${tag}/grant`, { client_id: client.client_id });
    await call('POST', `/roles/${tag}/revoke`, { client_id: client.client_id });
    await call('POST', `/clients/${client.client_id}/rotate-secret`);
    const user = await call('POST', '/users', { email: `${tag}@example.com`, password: PASSWORD });
    await call('PATCH', `/users/${user.id}`, { disabled: true });
    await call('POST', `/users/${user.id}/password`, { password: `${PASSWORD} 2` });
    await call('POST', `/users/${user.id}/revoke-grants`);
    const made = await call('POST', '/api-keys', { name: tag, scopes: ['clients:read'] });
    const rotated = await call('POST', `/api-keys/${made.id}/rotate`);
    await call('DELETE', `/api-keys/${rotated.id}`);
    const signing = await call('POST', '/keys/rotate');
    await call('DELETE', `/clients/${client.client_id}`);
    await call('DELETE', `/roles/${tag}`);
    await call('DELETE', `/apis/${api.id}`);
    return [api.id, client.client_id, user.id, made.id, rotated.id, signing.current, signing.retired];
  };

  /** The events `actor` recorded, oldest first, with the run's own ids and tag masked. */
  async function eventsOf(actor: string, tag: string, ids: string[]) {
    const events = (await server.services.audit.list({ limit: 1000 })).filter((e) => e.actor === actor && e.type !== 'api_key.used').reverse();
    let text = JSON.stringify(events.map(({ type, subject, clientId, details }) => ({ type, subject, clientId, details })));
    ids.forEach((id, index) => (text = text.replaceAll(id, `<id ${index}>`)));
    return JSON.parse(text.replaceAll(tag, '<tag>'));
  }

  it('records the same events (type, subject, client, details), apart from who made them', { timeout: 120_000 }, async () => {
    const cliEvents = await eventsOf('cli', 'parity-cli', await throughCli('parity-cli'));
    const key = await issueKey(server, ['admin']);
    const adminEvents = await eventsOf(`api-key:${key.slice(4, 20)}`, 'parity-api', await throughAdminApi(key)('parity-api'));
    expect(cliEvents.map((e: { type: string }) => e.type)).toEqual([
      'api.created',
      'role.created',
      'client.created',
      'role.granted',
      'role.revoked',
      'client.secret_rotated',
      'user.created',
      'user.updated',
      'user.password_changed',
      'user.grants_revoked',
      'api_key.created',
      'api_key.rotated',
      'api_key.revoked',
      'signing_key.rotated',
      'client.deleted',
      'role.deleted',
      'api.deleted',
    ]);
    expect(adminEvents).toEqual(cliEvents);
  });
});
