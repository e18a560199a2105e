export { classifyAddress, mayConnect, type AddressVerdict } from './addresses.ts';
export {
  createGuardedFetch,
  OutboundError,
  type GuardedFetch,
  type OutboundInit,
  type OutboundOptions,
  type OutboundRefusal,
  type ResolvedAddress,
  type Resolver,
} from './fetch.ts';
