import { verifyLog, type LogDigest } from '../application/log-verification';
import { EventStore, RecordedEvent, StreamNotFound, WrongExpectedVersion } from '../event-store/event-store';
import { HashChainedEventStore } from '../event-store/hash-chain';

/** Events read from the source per page, and the most appended to one stream at once. */
const PAGE = 1_000;

export interface CopyProgress {
  readonly copied: number;
  /** Events found already on the target (a resumed copy). */
  readonly skipped: number;
  readonly position: number;
  readonly head: number;
}

export interface CopyResult extends CopyProgress {
  /** Both logs' digests, equal when the copy is whole (the digest chains every event's hash in log order). */
  readonly sourceDigest: LogDigest;
  readonly targetDigest: LogDigest;
}

export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyError';
  }
}

/**
 * Copies every stream of `source` to `target`, in log order, each event with its id, type, data and
 * metadata as stored (so its hash and its link to the previous event of its stream hold on the target:
 * both cover stream, revision, type, data and metadata, not positions). Both stores are raw (not behind
 * the hash chain, which would link the events again).
 *
 * Resumable: started again after an interruption, each stream's events already on the target (the same
 * ids at the same revisions) are skipped; an event at a revision that holds another id stops the copy
 * (the target is not a copy of this source). `from` starts the walk further on (a saved checkpoint).
 * Ends by verifying both logs' hash chains and comparing their digests.
 */
export async function copyStore(
  source: EventStore,
  target: EventStore,
  options: {
    from?: number;
    onProgress?: (progress: CopyProgress) => void;
    /** After each append: every event up to `position` is on the target. */
    onCheckpoint?: (position: number) => void;
  } = {},
): Promise<CopyResult> {
  const head = await source.headPosition();
  /** Per stream: the next revision the target needs, once known. */
  const next = new Map<string, number>();
  let copied = 0;
  let skipped = 0;
  let position = Math.max(0, (options.from ?? 1) - 1);
  for (let from = position + 1; ; ) {
    const page = await source.readAll({ fromPosition: from, maxCount: PAGE });
    // Consecutive events of one stream go in one append.
    for (let i = 0; i < page.length; ) {
      let j = i + 1;
      while (j < page.length && page[j]!.streamId === page[i]!.streamId && page[j]!.revision === page[j - 1]!.revision + 1) j++;
      const run = page.slice(i, j);
      const written = await appendRun(target, run, next);
      copied += written;
      skipped += run.length - written;
      i = j;
      options.onCheckpoint?.(run[run.length - 1]!.position);
    }
    if (page.length > 0) {
      position = page[page.length - 1]!.position;
      options.onProgress?.({ copied, skipped, position, head: Math.max(head, position) });
    }
    if (page.length < PAGE) break;
    from = position + 1;
  }
  const [sourceCheck, targetCheck] = [await verifyLog(new HashChainedEventStore(source)), await verifyLog(new HashChainedEventStore(target))];
  if (sourceCheck.broken) throw new CopyError(`the source's hash chain is broken (${sourceCheck.broken.problem}: ${sourceCheck.broken.message})`);
  if (targetCheck.broken) throw new CopyError(`the target's hash chain is broken (${targetCheck.broken.problem}: ${targetCheck.broken.message})`);
  if (targetCheck.digest.hash !== sourceCheck.digest.hash || targetCheck.events !== sourceCheck.events) {
    throw new CopyError(
      `the target's digest (${targetCheck.events} events, ${targetCheck.digest.hash}) is not the source's (${sourceCheck.events} events, ${sourceCheck.digest.hash}): ` +
        `the target held other events, or was written during the copy`,
    );
  }
  return { copied, skipped, position, head, sourceDigest: sourceCheck.digest, targetDigest: targetCheck.digest };
}

/** Appends a run of one stream's consecutive events, leaving out those the target already holds; how many it wrote. */
async function appendRun(target: EventStore, run: readonly RecordedEvent[], next: Map<string, number>): Promise<number> {
  const stream = run[0]!.streamId;
  let expected = next.get(stream);
  if (expected === undefined) expected = await targetNext(target, stream);
  const first = run[0]!.revision;
  if (first > expected) throw new CopyError(`stream ${stream}: the target holds revisions up to ${expected - 1}, the copy is at ${first}; events before it are missing on the target`);
  const already = run.filter((e) => e.revision < expected!);
  if (already.length > 0) await assertSameOnTarget(target, stream, already);
  const rest = run.filter((e) => e.revision >= expected!);
  if (rest.length > 0) {
    try {
      await target.appendToStream(
        stream,
        rest.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })),
        { expectedRevision: rest[0]!.revision === 0 ? 'no_stream' : rest[0]!.revision - 1 },
      );
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error;
      // Someone else wrote the stream meanwhile (or an earlier run's append landed after all): read what is there and go on from it.
      next.delete(stream);
      return appendRun(target, run, next);
    }
  }
  next.set(stream, run[run.length - 1]!.revision + 1);
  return rest.length;
}

async function targetNext(target: EventStore, stream: string): Promise<number> {
  try {
    const last = await target.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return last.length === 0 ? 0 : last[0]!.revision + 1;
  } catch (error) {
    if (error instanceof StreamNotFound) return 0;
    throw error;
  }
}

async function assertSameOnTarget(target: EventStore, stream: string, events: readonly RecordedEvent[]): Promise<void> {
  const there = await target.readStream(stream, { fromRevision: events[0]!.revision, maxCount: events.length });
  for (const event of events) {
    const found = there.find((e) => e.revision === event.revision);
    if (found?.id !== event.id) {
      throw new CopyError(`stream ${stream} revision ${event.revision}: the target holds ${found ? `event ${found.id}` : 'nothing'}, not ${event.id}; the target is not a copy of this store`);
    }
  }
}
