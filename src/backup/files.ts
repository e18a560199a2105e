import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, link, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import { fail } from '../errors.ts';

const fileExists = (out: string) => fail('backup.file_exists', `${out} already exists`, { params: { file: out } });

/** Refuses, before anything is read, an existing file (without `force`) or a directory that cannot take it. */
export async function refuseExisting(out: string, force: boolean): Promise<void> {
  const directory = dirname(resolve(out));
  const writable = await access(directory, constants.W_OK | constants.X_OK).then(() => stat(directory)).then((s) => s.isDirectory(), () => false);
  if (!writable) throw fail('backup.directory_unwritable', `cannot write ${out}: ${directory} does not exist or cannot be written`, { params: { file: out } });
  if (!force && (await stat(out).catch(() => undefined))) throw fileExists(out);
}

/** Appends lines to a new gzip file, hashing each line with its newline as the checksum covers it. */
async function bodyWriter(path: string) {
  const file = (await open(path, 'wx', 0o600)).createWriteStream();
  const gzip = createGzip();
  file.on('error', (error) => gzip.destroy(error));
  gzip.pipe(file);
  const hash = createHash('sha256');
  return {
    async push(line: string) {
      const data = `${line}\n`;
      hash.update(data);
      if (!gzip.write(data)) await once(gzip, 'drain');
    },
    async end(): Promise<string> {
      gzip.end();
      await finished(file);
      return hash.digest('hex');
    },
    abort: () => (gzip.destroy(), file.destroy()),
  };
}

/**
 * Writes the backup: the body to one temporary file while `produce` pushes its lines, then the
 * header (which holds the body's counts and checksum) as the first gzip member of a second
 * temporary file, the body appended as the second member. Only a complete file is moved to
 * `out`, mode 0600; without `force` an existing `out` is never replaced, even one created meanwhile.
 */
export async function writeBackupFile<H extends object>(out: string, force: boolean, produce: (push: (line: string) => Promise<void>) => Promise<H>): Promise<H & { checksum: string }> {
  const stem = `${out}.${randomBytes(6).toString('hex')}`;
  const bodyPath = `${stem}.body.tmp`;
  const filePath = `${stem}.tmp`;
  try {
    const body = await bodyWriter(bodyPath);
    const partial = await produce(body.push).catch((error: unknown) => {
      body.abort();
      throw error;
    });
    const header = { ...partial, checksum: await body.end() };
    const handle = await open(filePath, 'wx', 0o600);
    try {
      await handle.write(gzipSync(`${JSON.stringify(header)}\n`));
      for await (const chunk of createReadStream(bodyPath)) await handle.write(chunk as Buffer);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await publish(filePath, out, force);
    return header;
  } finally {
    await Promise.all([rm(bodyPath, { force: true }), rm(filePath, { force: true })]);
  }
}

async function publish(path: string, out: string, force: boolean): Promise<void> {
  if (force) return rename(path, out);
  await link(path, out).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EEXIST' ? fileExists(out) : error;
  });
}

/** The lines of a gzip file (every member), without their newlines; a last line without one is refused. */
export async function* readLines(path: string): AsyncGenerator<string> {
  const source = createReadStream(path);
  const gunzip = createGunzip();
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of gunzip) {
      const lines = (rest + decoder.write(chunk as Buffer)).split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES') throw fail('backup.invalid', `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : 'permission denied'}`);
    throw fail('backup.invalid', `${path} is truncated or not a gzip file (${(error as Error).message})`);
  } finally {
    source.destroy();
  }
  if (rest + decoder.end()) throw fail('backup.invalid', `${path} is truncated: its last line is incomplete`);
}
