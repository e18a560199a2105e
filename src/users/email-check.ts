import type { Actor, Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import { isUniqueViolation } from '../errors.ts';
import { normalizeEmail } from './email.ts';

export interface EmailProblem {
  id: string;
  email: string;
  /** The normal form, or null when the new rules refuse the address. */
  normalized: string | null;
  problem: 'not_normal' | 'invalid' | 'collision';
  detail: string;
  /** The other users whose address has the same normal form. */
  collidesWith: { id: string; email: string }[];
  fixed: boolean;
}

export interface EmailCheck {
  checked: number;
  fixed: number;
  problems: EmailProblem[];
}

const BATCH = 500;

type Row = { id: string; email: string };

function classify(row: Row): EmailProblem | null {
  try {
    const normalized = normalizeEmail(row.email);
    if (normalized === row.email) return null;
    return { ...row, normalized, problem: 'not_normal', detail: `not in normal form: ${normalized}`, collidesWith: [], fixed: false };
  } catch (error) {
    return { ...row, normalized: null, problem: 'invalid', detail: (error as Error).message, collidesWith: [], fixed: false };
  }
}

/** Every row whose address is not its own normal form; rows in normal form cannot collide with each other. */
async function findAbnormal(db: Database): Promise<{ checked: number; problems: EmailProblem[] }> {
  const problems: EmailProblem[] = [];
  let checked = 0;
  for (let after = ''; ; ) {
    const rows = await db.user.findMany({ where: { id: { gt: after } }, select: { id: true, email: true }, orderBy: { id: 'asc' }, take: BATCH });
    checked += rows.length;
    for (const row of rows) {
      const problem = classify(row);
      if (problem) problems.push(problem);
    }
    if (rows.length < BATCH) return { checked, problems };
    after = rows.at(-1)!.id;
  }
}

async function markCollisions(db: Database, problems: EmailProblem[]): Promise<void> {
  const byNormal = new Map<string, EmailProblem[]>();
  for (const p of problems) {
    if (p.normalized === null) continue;
    if (!byNormal.has(p.normalized)) byNormal.set(p.normalized, []);
    byNormal.get(p.normalized)!.push(p);
  }
  for (const [normalized, group] of byNormal) {
    const owner = await db.user.findUnique({ where: { email: normalized }, select: { id: true, email: true } });
    const everyone = [...(owner ? [owner] : []), ...group.map(({ id, email }) => ({ id, email }))];
    if (everyone.length < 2) continue;
    for (const p of group) {
      p.problem = 'collision';
      p.collidesWith = everyone.filter((u) => u.id !== p.id);
      p.detail = `collides with ${p.collidesWith.map((u) => u.email).join(', ')} as ${normalized}`;
    }
  }
}

async function rewrite(db: Database, problem: EmailProblem, audit: Audit, actor: Actor): Promise<void> {
  try {
    const count = await db.$transaction(async (tx) => {
      const changed = await tx.user.updateMany({ where: { id: problem.id, email: problem.email }, data: { email: problem.normalized! } });
      if (changed.count === 1) await audit.change(actor, { type: 'user.updated', subject: problem.id, details: { fields: 'email' } }, tx);
      return changed.count;
    });
    problem.fixed = count === 1;
    if (!problem.fixed) problem.detail = 'changed or deleted while being checked; run the check again';
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    problem.problem = 'collision';
    problem.detail = `another user took ${problem.normalized} while being checked`;
  }
}

/**
 * Reports stored addresses that are not in normal form, are refused by the rules, or share a
 * normal form with another user's. With `fix`, rewrites only the clean, collision-free ones.
 */
export async function checkEmails(db: Database, audit: Audit, fix: { actor: Actor } | undefined): Promise<EmailCheck> {
  const { checked, problems } = await findAbnormal(db);
  await markCollisions(db, problems);
  if (fix) {
    for (const problem of problems) if (problem.problem === 'not_normal') await rewrite(db, problem, audit, fix.actor);
  }
  return { checked, fixed: problems.filter((p) => p.fixed).length, problems };
}
