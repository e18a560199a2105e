export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One line of the checklist: what was checked, how it went, what it saw, and one sentence of advice. */
export interface CheckItem {
  check: string;
  status: CheckStatus;
  detail: string;
  advice: string;
}

export const item = (check: string, status: CheckStatus, detail: string, advice: string): CheckItem => ({ check, status, detail, advice });
