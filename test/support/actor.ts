import type { Actor } from '../../src/audit/index.ts';

/** Who the tests' own setup is recorded as, in the audit trail. */
export const TEST_ACTOR: Actor = { id: 'test' };
