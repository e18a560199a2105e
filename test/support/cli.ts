import { spawn } from 'node:child_process';
import { runCli } from '../../src/cli/index.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ostiary ARGS` in a child process with only PATH and `env` set. */
export function ostiary(args: string[], env: Record<string, string>, stdin?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

type Write = (chunk: string | Uint8Array, encoding?: unknown, done?: () => void) => boolean;

/**
 * Runs `ostiary ARGS` in this process (as `ostiary` runs it in a child process, with only
 * PATH and `env` set), keeping what it writes; `terminal` makes stderr claim to be a terminal.
 */
export async function inProcess(args: string[], env: Record<string, string>, terminal = false): Promise<CliRun> {
  const saved = { env: process.env, stdout: process.stdout.write, stderr: process.stderr.write, tty: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY') };
  const written = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr'): Write => (chunk, encoding, done) => {
    written[stream] += String(chunk);
    (typeof encoding === 'function' ? (encoding as () => void) : done)?.();
    return true;
  };
  process.env = { PATH: saved.env.PATH ?? '', ...env };
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
  Object.defineProperty(process.stderr, 'isTTY', { value: terminal, configurable: true });
  try {
    return { code: await runCli(args), ...written };
  } finally {
    process.env = saved.env;
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    if (saved.tty) Object.defineProperty(process.stderr, 'isTTY', saved.tty);
    else delete (process.stderr as { isTTY?: boolean }).isTTY;
  }
}
