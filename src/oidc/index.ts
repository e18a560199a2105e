export { createLiveProvider, type LiveProvider } from './live-provider.ts';
export { providerRoutes } from './routes.ts';
