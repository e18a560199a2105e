export { createLiveProvider, type LiveProvider } from './live-provider.ts';
export { providerRoutes } from './routes.ts';
export { ACR_FEDERATED, ACR_MFA, ACR_PASSWORD, asksForMfa } from './acr.ts';
export { STEP_UP_REASON } from './policy.ts';
export { resourceMetadataRoutes } from './resource-metadata.ts';
export { logoutsForEndedSessions } from './backchannel.ts';
