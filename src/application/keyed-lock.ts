// The lock serves the command handlers and the hash chain alike: it lives in src/common.
export { KeyedLock } from '../common/keyed-lock';

/**
 * Group commit per key: items queue per key, and one batch per key is handed to `process` at a time,
 * holding every item that queued while the one before was being processed (up to `maxBatch`, in
 * arrival order). A key's first item when nothing of it is under way is processed at once, alone.
 * `process` settles its items itself; the key's next batch starts once it has settled, whether it
 * resolved or not.
 */
export class KeyedBatches<T> {
  private readonly queues = new Map<string, T[]>();

  constructor(
    private readonly process: (key: string, batch: readonly T[]) => Promise<void>,
    private readonly maxBatch: number,
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a whole number ≥ 1 (got ${maxBatch})`);
  }

  add(key: string, item: T): void {
    const queue = this.queues.get(key);
    if (queue) {
      queue.push(item);
      return;
    }
    // Nothing of this key under way: a queue for what comes meanwhile, and this item processed now.
    this.queues.set(key, []);
    void this.drain(key, [item]);
  }

  private async drain(key: string, first: T[]): Promise<void> {
    let batch = first;
    for (;;) {
      try {
        await this.process(key, batch);
      } catch {
        // `process` settles its items; a failure of its own must not stop the key's queue.
      }
      const queue = this.queues.get(key)!;
      if (queue.length === 0) {
        this.queues.delete(key);
        return;
      }
      batch = queue.splice(0, this.maxBatch);
    }
  }
}
