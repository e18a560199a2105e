import { OstiaryError, type ErrorCode } from '../errors.ts';
import type { FastifyReply } from 'fastify';
import type { Translate } from '../i18n/index.ts';
import { pageText } from './page-defaults.ts';

/** Refusals of the sign-up and invitation forms that the form itself shows, beside the fields. */
export const SIGNUP_PROBLEMS: ReadonlySet<ErrorCode> = new Set([
  'user.email_invalid',
  'user.signup_domain_refused',
  'user.name_invalid',
  'user.password_too_short',
  'user.password_too_long',
  'user.password_too_weak',
]);

export const PASSWORD_PROBLEMS: ReadonlySet<ErrorCode> = new Set(['user.password_too_short', 'user.password_too_long', 'user.password_too_weak']);

export const VERIFICATION_PROBLEMS: ReadonlySet<ErrorCode> = new Set([
  'user.verification_link_invalid',
  'user.verification_link_used',
  'user.verification_link_expired',
]);

export const RESET_LINK_PROBLEMS: ReadonlySet<ErrorCode> = new Set(['user.reset_link_invalid', 'user.reset_link_used', 'user.reset_link_expired']);

export const EMAIL_CHANGE_LINK_PROBLEMS: ReadonlySet<ErrorCode> = new Set([
  'user.email_change_link_invalid',
  'user.email_change_link_used',
  'user.email_change_link_expired',
  // Another account took the address after the link was mailed.
  'user.email_taken',
]);

export const INVITATION_PROBLEMS: ReadonlySet<ErrorCode> = new Set([
  'user.invitation_invalid',
  'user.invitation_used',
  'user.invitation_expired',
  // Someone signed up or was created with this address after the invitation was mailed.
  'user.email_taken',
]);

/**
 * The person-facing words (the catalogue's `errors:<code>`) for a typed refusal of one of these
 * kinds, with its status; anything else is rethrown for the error page.
 */
export function problemOf(error: unknown, problems: ReadonlySet<ErrorCode>, t: Translate): { status: number; message: string } {
  if (!(error instanceof OstiaryError) || !problems.has(error.code)) throw error;
  return { status: error.status, message: t(`errors:${error.code}`) };
}

/** Whether the error is a typed refusal of one of these kinds. */
export const isProblem = (error: unknown, problems: ReadonlySet<ErrorCode>): error is OstiaryError =>
  error instanceof OstiaryError && problems.has(error.code);

/** Our error page for a typed refusal of one of these kinds, with its status; anything else is rethrown. */
export function refusalPage(reply: FastifyReply, error: unknown, problems: ReadonlySet<ErrorCode>) {
  const problem = problemOf(error, problems, pageText(reply));
  return reply.code(problem.status).view('error', { message: problem.message });
}
