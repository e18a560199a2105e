export { createCsrf, type Csrf } from './csrf.ts';
export { documentHeaders, pageCsp, PROVIDER_CSP, withPasskeyScripts, registerSecurityHeaders, requestId } from './headers.ts';
export { registerRateLimits, type RateLimitHooks } from './rate-limits.ts';
export { SharedCounters } from './shared-counters.ts';
