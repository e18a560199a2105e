/**
 * `npm run bench:workers [-- --duration 10 --connections 32]`: client credentials, discovery and
 * the JWKS with one worker and with `--workers auto`, driven by wrk (Debian's package, a C load
 * generator that costs little CPU), with the CPU seconds the server and wrk each used, read from
 * /proc. Writes results/workers-<time>.json.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchEnv, BENCH_API, seedMachineClient, startServer } from './support.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' }, port: { type: 'string', default: '4011' } } });
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const PORT = Number(values.port);
const BASE = `http://127.0.0.1:${PORT}`;
/** Linux's clock ticks per second (USER_HZ), the unit of /proc/PID/stat's times. */
const TICKS = 100;

/** CPU seconds (user + system) a process has used, with its threads; 0 once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS;
}

/** A process and every process below it (a cluster's primary and its workers). */
async function tree(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const children = (await Promise.all(tasks.map((task) => readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')))).join(' ').split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...(await Promise.all(children.map(tree))).flat()];
}

const treeCpu = async (pid: number) => (await Promise.all((await tree(pid)).map(cpuSeconds))).reduce((a, b) => a + b, 0);

/** wrk against `url` (a Lua script for a POST); returns requests/s, non-2xx, and wrk's own CPU seconds. */
async function wrk(url: string, script?: string): Promise<{ requestsPerSecond: number; non2xx: number; p50: string; p99: string; wrkCpuSeconds: number }> {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', ...(script ? ['-s', script] : []), url];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // wrk's CPU, sampled until it exits (its /proc entry goes with it).
  let wrkCpu = 0;
  const sampler = setInterval(() => void cpuSeconds(child.pid!).then((s) => (wrkCpu = Math.max(wrkCpu, s))), 200);
  await new Promise((resolve) => child.once('exit', resolve));
  clearInterval(sampler);
  const number = (pattern: RegExp) => Number(output.match(pattern)?.[1] ?? 0);
  return {
    requestsPerSecond: Math.round(number(/Requests\/sec:\s+([\d.]+)/)),
    non2xx: number(/Non-2xx or 3xx responses:\s+(\d+)/),
    p50: output.match(/\s50%\s+(\S+)/)?.[1] ?? '?',
    p99: output.match(/\s99%\s+(\S+)/)?.[1] ?? '?',
    wrkCpuSeconds: Number(wrkCpu.toFixed(1)),
  };
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'ostiary-bench-workers-'));
  const env = benchEnv(PORT, dataDir);
  const basic = await seedMachineClient(env);
  const script = join(dataDir, 'token.lua');
  const body = `grant_type=client_credentials&scope=bench%3Aread&resource=${encodeURIComponent(BENCH_API)}`;
  await writeFile(script, `wrk.method = "POST"\nwrk.body = "${body}"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "${basic}"\n`);
  const loads = [
    { name: 'client_credentials, JWT', url: `${BASE}/token`, script },
    { name: 'discovery', url: `${BASE}/.well-known/openid-configuration` },
    { name: 'JWKS', url: `${BASE}/jwks` },
  ];
  type Row = Awaited<ReturnType<typeof wrk>> & { title: string; workers: number; serverCpuSeconds: number; requestsPerServerCpuSecond: number };
  const rows: Row[] = [];
  for (const workers of ['1', 'auto']) {
    const server = await startServer(env, ['--workers', workers]);
    try {
      // Warm: the first requests compile and fill caches.
      await wrk(loads[0]!.url, script).catch(() => undefined);
      for (const load of loads) {
        const before = await treeCpu(server.child.pid!);
        const result = await wrk(load.url, load.script);
        const serverCpuSeconds = Number((await treeCpu(server.child.pid!) - before).toFixed(1));
        const row: Row = { title: `${load.name}, ${workers === '1' ? '1 worker' : `${availableParallelism()} workers`}`, workers: workers === '1' ? 1 : availableParallelism(), ...result, serverCpuSeconds, requestsPerServerCpuSecond: Math.round((result.requestsPerSecond * DURATION) / serverCpuSeconds) };
        rows.push(row);
        console.error(`${row.title}: ${row.requestsPerSecond} req/s, server ${serverCpuSeconds} CPU s, wrk ${row.wrkCpuSeconds} CPU s, p50 ${row.p50}, p99 ${row.p99}, non-2xx ${row.non2xx}`);
      }
    } finally {
      await server.stop();
    }
  }
  const ratios = loads.map((load) => {
    const one = rows.find((r) => r.title.startsWith(load.name) && r.workers === 1)!;
    const many = rows.find((r) => r.title.startsWith(load.name) && r.workers !== 1)!;
    return { load: load.name, throughput: Number((many.requestsPerSecond / one.requestsPerSecond).toFixed(2)), perServerCpuSecond: Number((many.requestsPerServerCpuSecond / one.requestsPerServerCpuSecond).toFixed(2)) };
  });
  for (const r of ratios) console.error(`${r.load}: workers/one worker ${r.throughput}x req/s, ${r.perServerCpuSecond}x req per server CPU-second`);
  const at = new Date().toISOString().replace(/[:.]/g, '-');
  const file = new URL(`results/workers-${at}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify({ at, node: process.version, cores: availableParallelism(), conditions: { connections: CONNECTIONS, durationSeconds: DURATION, loadGenerator: 'wrk -t2, same machine', database: 'SQLite (file, WAL)' }, rows, ratios }, null, 2)}\n`);
  console.error(`wrote ${file.pathname}`);
}

await main();
