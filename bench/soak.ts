// Memory over a sustained client credentials load: the server as `npm start` runs it (its heap
// flags), then with V8's defaults, one after the other in one run.
// Usage: npm run bench:soak [-- --seconds 300 --connections 16]
// Loopback only, bounded in time. Writes bench/results/soak-<time>.json.
// With --mixed (default 120 s, 12 in flight): a mixed load on two processes sharing PostgreSQL
// and Redis, one killed and restarted part way, and the books checked (soak-mixed.ts,
// soak-books.ts); writes bench/results/soak-mixed-<time>.json and exits non-zero if a check fails.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { HEAP_FLAGS } from '../src/cli/commands/serve.ts';
import { benchEnv, memoryOf, seedMachineClient, startServer, tokenRequest } from './support.ts';
import { reportMixed } from './soak-books.ts';
import { runMixed } from './soak-mixed.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, mixed: { type: 'boolean', default: false } } });
const SECONDS = Number(values.seconds ?? (values.mixed ? '120' : '300'));
const CONNECTIONS = Number(values.connections ?? (values.mixed ? '12' : '16'));
const SAMPLE_EVERY_MS = 30_000;
const PORT = 7123;
const BASE = `http://127.0.0.1:${PORT}`;

async function soak(nodeFlags: string[]) {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-soak-'));
  const env = benchEnv(PORT, dataDir);
  try {
    const basic = await seedMachineClient(env);
    const server = await startServer(env, [], nodeFlags);
    try {
      const samples = [{ at: 0, ...(await memoryOf(BASE)) }];
      const started = Date.now();
      const sampler = setInterval(() => void memoryOf(BASE).then((m) => samples.push({ at: Math.round((Date.now() - started) / 1000), ...m })), SAMPLE_EVERY_MS);
      const load = await autocannon({ ...tokenRequest(BASE, basic), connections: CONNECTIONS, duration: SECONDS });
      clearInterval(sampler);
      samples.push({ at: SECONDS, ...(await memoryOf(BASE)) });
      const row = { nodeFlags, tokensPerSecond: Math.round(load.requests.average), requests: load.requests.total, p50ms: load.latency.p50, p99ms: load.latency.p99, non2xx: load.non2xx, samples };
      console.error(JSON.stringify(row));
      return row;
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function memorySoak() {
  const rows = [await soak(HEAP_FLAGS), await soak([])];
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    conditions: { connections: CONNECTIONS, seconds: SECONDS, database: 'SQLite (file, WAL)', loadGenerator: 'autocannon, same machine' },
    rows,
  };
  const file = new URL(`results/soak-${report.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`| node flags | tokens/s | p99 ms | RSS MB at ${rows[0]!.samples.map((s) => `${s.at}s`).join(' / ')} |\n|---|---:|---:|---|`);
  for (const row of rows) {
    console.log(`| ${row.nodeFlags.join(' ') || 'V8 defaults'} | ${row.tokensPerSecond} | ${row.p99ms} | ${row.samples.map((s) => s.rssMb).join(' / ')} |`);
  }
  console.log(`\nresults in ${file.pathname}`);
}

async function mixedSoak(): Promise<boolean> {
  const before = loadavg();
  const run = await runMixed(SECONDS, CONNECTIONS);
  try {
    const machine = { cpus: cpus().length, availableParallelism: availableParallelism(), model: cpus()[0]?.model, memoryMb: Math.round(totalmem() / 1_048_576), kernel: release() };
    return await reportMixed(run, { seconds: SECONDS, connections: CONNECTIONS, loadAverage: { before, after: loadavg() }, machine });
  } finally {
    await run.drop();
  }
}

if (!values.mixed) await memorySoak();
else if (!(await mixedSoak())) process.exitCode = 1;
