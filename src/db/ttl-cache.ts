/**
 * A small in-process cache whose entries live `ttlMs`: for definitions read on every token
 * request (clients, APIs) where a change may take that long to reach other processes.
 */
export function createTtlCache<V>(ttlMs: number, maxEntries = 10_000) {
  const entries = new Map<string, { value: V; expires: number }>();
  return {
    async get(key: string, load: () => Promise<V>): Promise<V> {
      const hit = entries.get(key);
      if (hit && hit.expires > Date.now()) return hit.value;
      const value = await load();
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, { value, expires: Date.now() + ttlMs });
      return value;
    },
    forget: (key: string) => entries.delete(key),
    clear: () => entries.clear(),
  };
}
