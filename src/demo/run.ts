#!/usr/bin/env node
/**
 * `npm run demo`: Ostiary as `npm start` runs it (same database, DATA_DIR and PORT), a demo web app
 * signing in with it, and a demo API verifying its access tokens. Ctrl-C stops all three.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as oidc from 'openid-client';
import { HEAP_FLAGS } from '../cli/index.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { startApi } from './api.ts';
import { startApp } from './app.ts';
import { DEMO, prepareDemo } from './setup.ts';

const MAIN = new URL('../main.ts', import.meta.url).pathname;
/** How long Ostiary may take to answer discovery after it was started. */
const START_TIMEOUT_MS = 60_000;

function portOf(name: string, fallback: number): number {
  const value = process.env[name] || String(fallback);
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) throw new ConfigError(`${name}: must be a port number, not ${value}`);
  return port;
}

/** `ostiary serve` in a child process, as `npm start` runs it. */
function startOstiary(): ChildProcess {
  // Without LOG_LEVEL, warnings only: a line per request would bury the demo's instructions.
  const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'warn' };
  return spawn(process.execPath, [...HEAP_FLAGS, MAIN, 'serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The issuer's metadata once Ostiary answers, as the demo app's client. */
async function discoverWhenUp(issuer: string, clientSecret: string, ostiary: ChildProcess): Promise<oidc.Configuration> {
  const options = issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {};
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      return await oidc.discovery(new URL(issuer), DEMO.clientId, clientSecret, oidc.ClientSecretBasic(clientSecret), options);
    } catch (error) {
      if (ostiary.exitCode !== null || ostiary.signalCode !== null) throw new Error('Ostiary stopped before it served (see its output above)');
      if (Date.now() > deadline) throw new Error(`Ostiary did not answer at ${issuer} within ${START_TIMEOUT_MS / 1000} s: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function banner(appUrl: string, issuer: string, apiUrl: string): string {
  return `
  The Ostiary demo is running.

    Open      ${appUrl}
    Email     ${DEMO.email}
    Password  ${DEMO.password}

    Ostiary   ${issuer}
    Demo API  ${apiUrl} (audience ${DEMO.audience})

  Press Ctrl-C to stop.

`;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const appPort = portOf('DEMO_PORT', 3001);
  const apiPort = portOf('DEMO_API_PORT', 3002);
  // 127.0.0.1, not localhost: another site than the issuer's, so neither sees the other's cookies.
  const appUrl = `http://127.0.0.1:${appPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}/hello`;

  const { clientSecret } = await prepareDemo(config, { redirectUri: `${appUrl}/callback`, postLogoutRedirectUri: `${appUrl}/` });
  const ostiary = startOstiary();
  const servers: { close(): Promise<unknown> }[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled(servers.map((s) => s.close()));
    if (ostiary.exitCode === null && ostiary.signalCode === null) {
      const exited = new Promise((resolve) => ostiary.once('exit', resolve));
      ostiary.kill('SIGTERM');
      await exited;
    }
    process.exit(code);
  };
  // A terminal's Ctrl-C reaches Ostiary too; it stops on either signal, and a second one is ignored.
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  // Exit code 0 is Ostiary stopping on a signal (a Ctrl-C that reached it first); anything else failed.
  ostiary.once('exit', (code, signal) => {
    if (stopping) return;
    if (code !== 0) process.stderr.write(`demo: Ostiary stopped (${signal ?? `exit code ${code}`}); stopping the demo\n`);
    void stop(code === 0 ? 0 : 1);
  });

  try {
    const rp = await discoverWhenUp(config.issuer, clientSecret, ostiary);
    const jwksUri = rp.serverMetadata().jwks_uri!;
    servers.push(await startApi({ port: apiPort, issuer: config.issuer, jwksUri, audience: DEMO.audience, permission: DEMO.permission }));
    servers.push(await startApp({ port: appPort, url: appUrl, rp, issuer: config.issuer, apiUrl, audience: DEMO.audience, scope: DEMO.permission }));
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n`);
    return stop(1);
  }
  process.stdout.write(banner(appUrl, config.issuer, apiUrl));
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
