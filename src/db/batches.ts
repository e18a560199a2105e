/**
 * Deletes rows `batchSize` at a time until `find` returns fewer, so no statement locks a large
 * table for long: `find(take)` names the next rows, `remove(rows)` deletes them and says how many.
 */
export async function deleteInBatches<K>(batchSize: number, find: (take: number) => Promise<K[]>, remove: (rows: K[]) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const batch = await find(batchSize);
    if (batch.length === 0) return total;
    total += await remove(batch);
    if (batch.length < batchSize) return total;
  }
}
