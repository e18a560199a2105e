/**
 * A small in-process cache whose entries live `ttlMs`: for definitions read on every token
 * request (clients, APIs, roles) where a change may take that long to reach other processes.
 */
export function createTtlCache<V>(ttlMs: number, maxEntries = 10_000) {
  const entries = new Map<string, { value: V; expires: number }>();
  // A load that began before a forget or clear may have read the old state: it is not kept.
  let generation = 0;
  return {
    async get(key: string, load: () => Promise<V>): Promise<V> {
      const hit = entries.get(key);
      if (hit && hit.expires > Date.now()) return hit.value;
      const started = generation;
      const value = await load();
      if (started !== generation) return value;
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, { value, expires: Date.now() + ttlMs });
      return value;
    },
    forget(key: string) {
      generation += 1;
      entries.delete(key);
    },
    clear() {
      generation += 1;
      entries.clear();
    },
  };
}
