export { interactionRoutes } from './routes.ts';
export { PASSWORD_RESET_PATH, passwordResetRoutes } from './password-reset.ts';
export { accountLinkRoutes } from './account-links.ts';
export { accountRoutes, ACCOUNT_PATH } from './account.ts';
export { upstreamCallbackRoutes } from './upstreams.ts';
