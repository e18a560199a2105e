export { interactionRoutes } from './routes.ts';
export { PASSWORD_RESET_PATH, passwordResetRoutes } from './password-reset.ts';
