import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { clientLifetime, lifetimes } from '../../src/oidc/lifetimes.ts';

const NOW = 1_750_000_000; // epoch seconds the clock is frozen at
const DAY = 86_400;

// Each lifetime configured to a value of its own, so a mix-up between two of them shows.
const config = loadConfig({
  ACCESS_TOKEN_TTL_SECONDS: '600',
  ID_TOKEN_TTL_SECONDS: '700',
  AUTHORIZATION_CODE_TTL_SECONDS: '45',
  REFRESH_TOKEN_TTL_SECONDS: String(10 * DAY),
  REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: String(30 * DAY),
  SESSION_TTL_SECONDS: String(2 * DAY),
  INTERACTION_TTL_SECONDS: '1800',
});
const ttl = lifetimes(config);
const refresh = (client: Record<string, unknown> | undefined, iiat?: number) => ttl.RefreshToken(undefined, iiat === undefined ? {} : { iiat }, client);

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW * 1000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('clientLifetime', () => {
  it("takes the client's own number, else the fallback", () => {
    expect(clientLifetime({ access_token_ttl: 30 }, 'access_token_ttl', 900)).toBe(30);
    expect(clientLifetime({ id_token_ttl: 30 }, 'access_token_ttl', 900)).toBe(900);
    expect(clientLifetime({}, 'access_token_ttl', 900)).toBe(900);
    expect(clientLifetime(undefined, 'refresh_token_ttl', 900)).toBe(900);
  });

  it('ignores a value that is not a number', () => {
    expect(clientLifetime({ access_token_ttl: '30' }, 'access_token_ttl', 900)).toBe(900);
    expect(clientLifetime({ access_token_ttl: null }, 'access_token_ttl', 900)).toBe(900);
  });
});

describe('lifetimes', () => {
  it('uses the configured lifetimes for a client without its own', () => {
    expect(ttl.AccessToken(undefined, undefined, {})).toBe(600);
    expect(ttl.ClientCredentials(undefined, undefined, {})).toBe(600);
    expect(ttl.IdToken(undefined, undefined, undefined)).toBe(700);
    expect(refresh({})).toBe(10 * DAY);
    expect(ttl).toMatchObject({ AuthorizationCode: 45, Grant: 30 * DAY, Session: 2 * DAY, Interaction: 1800 });
  });

  it('defaults every lifetime from the configuration defaults', () => {
    const defaults = lifetimes(loadConfig({}));
    expect(defaults.AccessToken(undefined, undefined, undefined)).toBe(900);
    expect(defaults.IdToken(undefined, undefined, undefined)).toBe(900);
    expect(defaults.RefreshToken(undefined, {}, undefined)).toBe(14 * DAY);
    expect(defaults).toMatchObject({ AuthorizationCode: 60, Grant: 90 * DAY, Session: 14 * DAY, Interaction: 3600 });
  });

  it("applies each per-client lifetime to its own token only", () => {
    const client = { access_token_ttl: 120, id_token_ttl: 240, refresh_token_ttl: 3 * DAY };
    expect(ttl.AccessToken(undefined, undefined, client)).toBe(120);
    expect(ttl.ClientCredentials(undefined, undefined, client)).toBe(120);
    expect(ttl.IdToken(undefined, undefined, client)).toBe(240);
    expect(refresh(client)).toBe(3 * DAY);
    expect(ttl.AccessToken(undefined, undefined, { id_token_ttl: 240 })).toBe(600);
    expect(ttl.IdToken(undefined, undefined, { access_token_ttl: 120 })).toBe(700);
  });

  it('gives each rotation the full sliding lifetime while the absolute cap is further away', () => {
    expect(refresh({}, NOW - 5 * DAY)).toBe(10 * DAY);
    expect(refresh({}, NOW - 20 * DAY)).toBe(10 * DAY);
  });

  it('never lets a rotated refresh token outlive the cap counted from the first one', () => {
    expect(refresh({}, NOW - 25 * DAY)).toBe(5 * DAY);
    expect(refresh({}, NOW - 30 * DAY + 1)).toBe(1);
    // A client's longer sliding lifetime is capped too.
    expect(refresh({ refresh_token_ttl: 60 * DAY })).toBe(30 * DAY);
    expect(refresh({ refresh_token_ttl: 60 * DAY }, NOW - 29 * DAY)).toBe(DAY);
  });

  it('answers at least one second once the cap has passed (oidc-provider needs a positive lifetime)', () => {
    expect(refresh({}, NOW - 30 * DAY)).toBe(1);
    expect(refresh({}, NOW - 365 * DAY)).toBe(1);
  });

  it('lets no refresh token outlive its grant (both counted from the first refresh token)', () => {
    for (const client of [{}, { refresh_token_ttl: 60 * DAY }, { refresh_token_ttl: 30 * DAY }]) {
      for (const age of [0, 10 * DAY, 29 * DAY]) {
        const first = NOW - age;
        expect(NOW + refresh(client, first)).toBeLessThanOrEqual(first + ttl.Grant);
      }
    }
  });
});
