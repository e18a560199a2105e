import { describe, expect, it } from 'vitest';
import { destinationOf } from '../../src/interactions/destination.ts';

// The consent pages over HTTP are tested in test/protocol/consent.test.ts; these are the cases
// no client of ours can reach yet (native redirect URIs, odd spellings of loopback).
describe('where the consent page says the person goes', () => {
  const at = (redirect_uri: string) => destinationOf({ params: { redirect_uri } });

  it('names a native app by its scheme', () => {
    expect(at('com.example.app:/cb')).toEqual({ kind: 'app', scheme: 'com.example.app:' });
  });

  it.each(['http://127.0.0.1/cb', 'http://127.255.0.1/cb', 'http://[::1]/cb', 'http://[::ffff:127.0.0.1]/cb', 'http://LOCALHOST./cb', 'http://a.localhost:9/cb'])('flags %s as loopback', (uri) => {
    expect(at(uri)).toMatchObject({ kind: 'web', loopback: true });
  });

  it.each(['https://128.0.0.1/cb', 'https://[::2]/cb', 'https://localhost.example.com/cb', 'https://mylocalhost/cb'])('does not flag %s', (uri) => {
    expect(at(uri)).toMatchObject({ kind: 'web', loopback: false });
  });

  it('is a device when the sign-in came from a user code', () => {
    expect(destinationOf({ deviceCode: 'abc', params: {} })).toEqual({ kind: 'device' });
  });
});
