export { createCleanup, startCleanup, type CleanupResult } from './cleanup.ts';
