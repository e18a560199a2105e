import { parseArgs, type ParseArgsConfig } from 'node:util';
import { invalidInput } from '../errors.ts';

export interface Output {
  json: boolean;
  /** Prints the result: one JSON document on stdout with --json, else the text lines. */
  result(data: unknown, text: () => string): void;
  /** Progress and warnings go to stderr, so stdout stays parseable. */
  log(message: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(data, text) {
      process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
    },
    log(message) {
      process.stderr.write(`${message}\n`);
    },
  };
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict parsing: an unknown flag or a missing value is a usage error naming it. */
export function parse<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, strict: true, allowPositionals });
  } catch (error) {
    throw invalidInput((error as Error).message);
  }
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw invalidInput(`${flag} is required`);
  return value;
}

export function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw invalidInput(`expected exactly one ${what}`);
  return positionals[0]!;
}

/** Reads a secret from standard input (one line; a trailing newline is dropped). */
export async function readStdinSecret(label: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`${label} (input is visible; pipe it to hide it): `);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (process.stdin.isTTY && chunk.includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '').split(/\r?\n/)[0] ?? '';
}
