// The books of a mixed soak (soak-mixed.ts), read from its database after both processes have
// stopped. bench/ is outside src/, so these read the tables with raw SQL (column names as in
// prisma/models.prisma; refresh token rows keyed by the SHA-256 of the token, as
// src/provider-store stores them).
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import pg from 'pg';
import type { Ledger, MemorySample, Timeline } from './soak-mixed.ts';

export interface Check {
  name: string;
  ok: boolean;
  figures: Record<string, unknown>;
}

/**
 * How long before the kill an answered token's audit row may have been lost: the audit batch
 * waits 50 ms (src/audit/index.ts FLUSH_MS), then its INSERT (and the one before it, still running)
 * takes its time on a loaded 2-core machine; 1 s bounds both with a wide margin.
 */
const LOSS_WINDOW_MS = 1_000;
/** RSS of the surviving process over the second half may vary by at most this share. */
const RSS_TOLERANCE = 0.1;
const EXPECTED_FAILURES = new Set(['refused (instance down)', 'cut (instance killed)']);

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

async function refreshRows(client: pg.Client, tokens: string[]) {
  const { rows } = await client.query<{ id: string; consumed: boolean }>(
    `SELECT "id", "consumedAt" IS NOT NULL AS consumed FROM "OidcPayload" WHERE "type" = 'RefreshToken' AND "id" = ANY($1::text[])`,
    [tokens.map(sha256)],
  );
  const byHash = new Map(rows.map((row) => [row.id, row.consumed]));
  return (token: string) => byHash.get(sha256(token));
}

/**
 * Each refresh token answered 200 is consumed in the database, none was answered 200 twice, each
 * refresh token received and never sent is still redeemable, and each deliberate reuse was
 * refused, revoked its grant (its rows gone) and was audited.
 */
async function refreshBook(client: pg.Client, ledger: Ledger): Promise<Check> {
  const probed = new Set(ledger.probes.map((p) => p.chain));
  const kept = ledger.rotations.filter((r) => !probed.has(r.chain));
  const heads = [...ledger.received].filter(([token, chain]) => !ledger.sent.has(token) && !probed.has(chain)).map(([token]) => token);
  const probedTokens = [...ledger.received].filter(([, chain]) => probed.has(chain)).map(([token]) => token);
  const consumed = await refreshRows(client, [...kept.map((r) => r.sent), ...heads, ...ledger.unknownFate, ...probedTokens]);
  const reuseAudited = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE "type" = 'refresh_token.reuse_detected' AND "requestId" = ANY($1::text[])`, [
    ledger.probes.map((p) => p.replayRequestId),
  ]);
  const figures = {
    answered200: ledger.rotations.length,
    answered200Twice: ledger.rotations.length - new Set(ledger.rotations.map((r) => r.sent)).size,
    answered200NotConsumedInDatabase: kept.filter((r) => consumed(r.sent) !== true).length,
    receivedNeverSent: heads.length,
    receivedNeverSentButNotRedeemable: heads.filter((token) => consumed(token) !== false).length,
    cutOffInFlight: ledger.unknownFate.length,
    cutOffInFlightConsumed: ledger.unknownFate.filter((token) => consumed(token) === true).length,
    reuseProbes: ledger.probes,
    reuseProbesAudited: reuseAudited.rows[0]!.n,
    reuseProbedGrantRowsLeft: probedTokens.filter((token) => consumed(token) !== undefined).length,
  };
  const probesOk = ledger.probes.length > 0 && ledger.probes.every((p) => p.replayStatus === 400 && p.replayError === 'invalid_grant' && p.headStatus === 400);
  const ok =
    figures.answered200 > 0 &&
    figures.answered200Twice === 0 &&
    figures.answered200NotConsumedInDatabase === 0 &&
    figures.receivedNeverSentButNotRedeemable === 0 &&
    probesOk &&
    figures.reuseProbesAudited === ledger.probes.length &&
    figures.reuseProbedGrantRowsLeft === 0;
  return { name: 'refresh tokens: each answered 200 redeemed exactly once', ok, figures };
}

/** Every live provider row that names a grant has that grant's row. */
async function orphanBook(client: pg.Client): Promise<Check> {
  const { rows } = await client.query<{ type: string; n: number }>(
    `SELECT p."type", count(*)::int AS n FROM "OidcPayload" p
      WHERE p."grantId" IS NOT NULL AND p."type" <> 'Grant'
        AND (p."expiresAt" IS NULL OR p."expiresAt" > (now() AT TIME ZONE 'UTC'))
        AND NOT EXISTS (SELECT 1 FROM "OidcPayload" g WHERE g."type" = 'Grant' AND g."id" = p."grantId")
      GROUP BY p."type"`,
  );
  const totals = await client.query<{ grants: number; withGrant: number }>(
    `SELECT count(*) FILTER (WHERE "type" = 'Grant')::int AS grants, count(*) FILTER (WHERE "grantId" IS NOT NULL AND "type" <> 'Grant')::int AS "withGrant" FROM "OidcPayload"`,
  );
  const orphans = Object.fromEntries(rows.map((row) => [row.type, row.n]));
  return { name: 'no orphaned grant references', ok: rows.length === 0, figures: { ...totals.rows[0], orphansByType: orphans } };
}

interface LabelBook {
  answered200: number;
  rows: number;
  answeredWithoutRow: number;
  /** For the killed process: how long before the kill the oldest answer without a row came. */
  oldestLossBeforeKillMs?: number;
  rowsForCutOffRequests: number;
  rowsForRequestsNotAnswered200: number;
}

/**
 * token.issued rows against token responses, matched by request id (the load sends its own
 * X-Request-Id, which the audit row keeps). Exact for every process that was stopped with
 * SIGTERM (it writes its pending rows first); for the killed one, answers without a row must
 * be within LOSS_WINDOW_MS before the kill, and rows without an answer must be requests the
 * kill cut off.
 */
async function auditBook(client: pg.Client, ledger: Ledger, timeline: Timeline): Promise<Check> {
  const { rows } = await client.query<{ requestId: string | null; n: number }>(`SELECT "requestId", count(*)::int AS n FROM "AuditEvent" WHERE "type" = 'token.issued' GROUP BY 1`);
  const rowsById = new Map(rows.map((row) => [row.requestId ?? '', row.n]));
  const requests = new Map(ledger.tokenRequests.map((r) => [r.requestId, r]));
  const books: Record<string, LabelBook> = {};
  const bookOf = (label: string) => (books[label] ??= { answered200: 0, rows: 0, answeredWithoutRow: 0, rowsForCutOffRequests: 0, rowsForRequestsNotAnswered200: 0 });
  for (const request of ledger.tokenRequests) {
    const book = bookOf(request.label);
    const n = rowsById.get(request.requestId) ?? 0;
    book.rows += n;
    if (request.status === 200) book.answered200 += 1;
    if (request.status === 200 && n === 0) {
      book.answeredWithoutRow += 1;
      book.oldestLossBeforeKillMs = Math.max(book.oldestLossBeforeKillMs ?? 0, timeline.killedAt - request.answeredAt);
    }
    if (request.status === 'cut') book.rowsForCutOffRequests += n;
    else if (request.status !== 200) book.rowsForRequestsNotAnswered200 += n;
  }
  const rowsOfNoRequest = rows.filter((row) => !requests.has(row.requestId ?? '')).reduce((sum, row) => sum + row.n, 0);
  const duplicated = rows.filter((row) => row.n > 1).length;
  const labelOk = (label: string, book: LabelBook) =>
    book.rowsForRequestsNotAnswered200 === 0 &&
    (label === timeline.killedLabel ? (book.oldestLossBeforeKillMs ?? 0) <= LOSS_WINDOW_MS : book.answeredWithoutRow === 0 && book.rowsForCutOffRequests === 0);
  const ok = rowsOfNoRequest === 0 && duplicated === 0 && Object.entries(books).every(([label, book]) => labelOk(label, book));
  return { name: 'token.issued audit rows = token responses answered 200', ok, figures: { killed: timeline.killedLabel, lossWindowMs: LOSS_WINDOW_MS, byInstance: books, rowsOfNoRequest, requestIdsWithSeveralRows: duplicated } };
}

/** The surviving process's RSS over the second half of the run stays within RSS_TOLERANCE. */
function memoryBook(memory: MemorySample[], seconds: number): Check {
  const secondHalf = memory.filter((s) => s.at >= seconds / 2 && s.a !== null).map((s) => s.a!);
  const min = Math.min(...secondHalf);
  const max = Math.max(...secondHalf);
  const spread = Number(((max - min) / min).toFixed(3));
  return { name: 'surviving instance RSS flat over the second half', ok: secondHalf.length >= 3 && spread <= RSS_TOLERANCE, figures: { samples: secondHalf.length, minMb: min, maxMb: max, spread, tolerance: RSS_TOLERANCE } };
}

/** Only the kill may fail requests. */
function failureBook(ledger: Ledger): Check {
  const unexpected = Object.entries(ledger.failures).filter(([key]) => !EXPECTED_FAILURES.has(key.split(' ').slice(2).join(' ')));
  return { name: 'no failures but those of the killed instance', ok: unexpected.length === 0, figures: { unexpected: Object.fromEntries(unexpected) } };
}

export async function checkBooks(databaseUrl: string, ledger: Ledger, timeline: Timeline, memory: MemorySample[], seconds: number): Promise<Check[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return [await refreshBook(client, ledger), await orphanBook(client), await auditBook(client, ledger, timeline), memoryBook(memory, seconds), failureBook(ledger)];
  } finally {
    await client.end();
  }
}

/** Per operation and instance: attempts answered as expected, and failures by kind. */
type Cell = { ok: number; failed: Record<string, number> };

function countsOf(ledger: Ledger) {
  const counts: Record<string, Record<string, Cell>> = {};
  const cell = (op: string, label: string) => ((counts[op] ??= {})[label] ??= { ok: 0, failed: {} });
  for (const [key, n] of Object.entries(ledger.ok)) {
    const [op = '', label = ''] = key.split(' ');
    cell(op, label).ok += n;
  }
  for (const [key, n] of Object.entries(ledger.failures)) {
    const [op = '', label = '', ...kind] = key.split(' ');
    cell(op, label).failed[kind.join(' ')] = n;
  }
  return counts;
}

function print(counts: ReturnType<typeof countsOf>, checks: Check[], seconds: number, file: URL) {
  console.log(`| operation | instance | answered as expected | per s | failed (kind) |\n|---|---|---:|---:|---|`);
  // a1, b1, then b between the kill and readiness, then b2.
  const inOrder = (cells: Record<string, Cell>) => Object.entries(cells).sort(([x], [y]) => x.replace('-restarting', '1~').localeCompare(y.replace('-restarting', '1~')));
  for (const [op, labels] of Object.entries(counts).sort(([x], [y]) => x.localeCompare(y))) {
    for (const [label, cell] of inOrder(labels)) {
      const failed = Object.entries(cell.failed).map(([kind, n]) => `${n} ${kind}`).join(', ');
      console.log(`| ${op} | ${label} | ${cell.ok} | ${(cell.ok / seconds).toFixed(1)} | ${failed} |`);
    }
    const ok = Object.values(labels).reduce((sum, cell) => sum + cell.ok, 0);
    const failed = Object.values(labels).reduce((sum, cell) => sum + Object.values(cell.failed).reduce((a, b) => a + b, 0), 0);
    console.log(`| ${op} | all | ${ok} | ${(ok / seconds).toFixed(1)} | ${failed} |`);
  }
  console.log('');
  for (const check of checks) console.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${JSON.stringify(check.figures)}`);
  console.log(`\nresults in ${file.pathname}`);
}

export interface MixedConditions {
  seconds: number;
  connections: number;
  loadAverage: { before: number[]; after: number[] };
  machine: Record<string, unknown>;
}

/** Checks the books, writes results/soak-mixed-<time>.json, prints; true when every check passed. */
export async function reportMixed(
  run: { ledger: Ledger; timeline: Timeline; memory: MemorySample[]; databaseUrl: string; versions: Record<string, string> },
  conditions: MixedConditions,
): Promise<boolean> {
  const checks = await checkBooks(run.databaseUrl, run.ledger, run.timeline, run.memory, conditions.seconds);
  const { startedAt, endedAt, killedAt, restartedAt, killedLabel } = run.timeline;
  const counts = countsOf(run.ledger);
  const report = {
    date: new Date().toISOString(),
    conditions: { ...conditions, versions: run.versions, database: 'PostgreSQL (fresh database, local server)', redis: 'local server (shared rate limits)', instances: 2, loadGenerator: 'fetch, same machine' },
    timeline: { killed: killedLabel, killedAtS: (killedAt - startedAt) / 1000, readyAgainAtS: (restartedAt - startedAt) / 1000, endedAtS: (endedAt - startedAt) / 1000 },
    counts,
    failures: run.ledger.failures,
    books: checks,
    memory: run.memory,
  };
  const file = new URL(`results/soak-mixed-${report.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  print(counts, checks, conditions.seconds, file);
  return checks.every((check) => check.ok);
}
