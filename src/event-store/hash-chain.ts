import type { Observable } from 'rxjs';
import { canonicalCopy } from '../common/canonical-json';
import { KeyedLock } from '../common/keyed-lock';
import { eventHash, HASH_FIELD, hashOfRecorded, PREV_HASH_FIELD } from './chain-hash';
import {
  AppendOptions,
  AppendResult,
  AuditLogBroken,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  JsonObject,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StoredEvent,
  StreamNotFound,
  SubscribeToAllOptions,
  WrongExpectedVersion,
} from './event-store';

/**
 * The tamper-evident log's writer: the decorator below chains every appended event to the one before
 * it in its stream. What an event's hash covers, and the store-wide digest, are in `chain-hash.ts`.
 */

interface StreamHead {
  readonly revision: number;
  readonly hash: string;
  /** Id of the head event: an `any` append that repeats it is a retry, passed on as such. */
  readonly lastId: string;
}

const MAX_CACHED_STREAMS = 100_000;
const MAX_ANY_ATTEMPTS = 32;

/** Another process appends to the same stream: wait a little (random, growing) so that one of the two goes first. */
function backOff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A decorator over the event store port that chains every appended event to the one before it in
 * its stream. Both adapters are wrapped in it (see `openEventStore`), so nothing above the port
 * changes and the chain is the same on SQLite and EventStoreDB.
 *
 * - The head of each stream (revision and hash) is cached, so an append reads nothing when this
 *   process wrote the stream last; otherwise it reads the one event the append builds on.
 * - `any` appends (refusal records) are queued per stream within the process and turned into the
 *   known head revision, so an append by another process in between is a wrong expected version,
 *   and the append is linked again to the new head and retried: the chain never forks. Appends with
 *   an exact expected revision are not queued: the store's own check settles who wins.
 * - An idempotent retry (the same event ids) stores nothing, so the chain fields it carries do not matter.
 */
export class HashChainedEventStore implements EventStore {
  readonly kind: EventStore['kind'];
  private readonly heads = new Map<string, StreamHead>();
  private readonly lock = new KeyedLock();
  /** Appends wait for it (the log's verification at start). */
  private gate: Promise<void> | undefined;
  /** Set once the log is found broken: every append is refused with it. */
  private refusal: AuditLogBroken | undefined;
  private readonly appendedListeners: ((position: number) => void)[] = [];

  constructor(private readonly inner: EventStore) {
    this.kind = inner.kind;
    this.commitNotices = inner.commitNotices;
  }

  readonly commitNotices: EventStore['commitNotices'];

  /** Appends wait until `until` settles (the log's verification at start). */
  holdAppends(until: Promise<unknown>): void {
    const gate: Promise<void> = until.then(
      () => undefined,
      () => undefined,
    );
    this.gate = gate;
    void gate.then(() => {
      if (this.gate === gate) this.gate = undefined;
    });
  }

  /** From now on every append is refused with `error`: nothing is chained onto a broken log. */
  refuseAppends(error: AuditLogBroken): void {
    this.refusal = error;
  }

  /** Called with the position of every acknowledged append (after it is committed), off the append's own path. */
  onAppended(listener: (position: number) => void): void {
    this.appendedListeners.push(listener);
  }

  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    if (this.gate !== undefined) await this.gate;
    if (this.refusal !== undefined) throw this.refusal;
    const result = await this.appendUnchecked(streamId, events, options);
    for (const listener of this.appendedListeners) listener(result.position);
    return result;
  }

  private appendUnchecked(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    const expected = options.expectedRevision;
    // An exact expected revision needs no queue: the store lets one append win at that revision and
    // refuses the others, so the chain cannot fork. Only `any` appends are queued, as each takes
    // the head this process knows.
    if (expected === 'no_stream' || typeof expected === 'number') return this.appendChained(streamId, events, expected);
    return this.lock.run(streamId, () => this.appendChained(streamId, events, expected));
  }

  private async appendChained(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    if (expected === 'no_stream') return this.appendOn(streamId, events, expected, { revision: -1, hash: null });
    if (typeof expected === 'number') {
      // Without that event the store refuses the append (or answers a retry): the chain fields go unused.
      const base = (await this.headAt(streamId, expected)) ?? { revision: expected, hash: null };
      return this.appendOn(streamId, events, expected, base);
    }
    for (let attempt = 1; ; attempt++) {
      const head = this.heads.get(streamId) ?? (await this.readHead(streamId));
      if (head === null) {
        if (expected === 'stream_exists') throw new WrongExpectedVersion(streamId, expected, 'no_stream');
        try {
          return await this.appendOn(streamId, events, 'no_stream', { revision: -1, hash: null });
        } catch (error) {
          if (!(error instanceof WrongExpectedVersion) || attempt >= MAX_ANY_ATTEMPTS) throw error;
          await backOff(attempt);
          continue;
        }
      }
      // A repeat of the head's own append: a retry, which the store answers with the earlier result.
      if (events[events.length - 1]?.id.toLowerCase() === head.lastId) return this.inner.appendToStream(streamId, events, { expectedRevision: expected });
      try {
        return await this.appendOn(streamId, events, head.revision, head);
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion) || attempt >= MAX_ANY_ATTEMPTS) throw error;
        this.heads.delete(streamId);
        // The stream did not move: these ids were stored earlier, at another revision. A retry: the
        // store returns the earlier result and writes nothing.
        if (error.actual === head.revision) return this.inner.appendToStream(streamId, events, { expectedRevision: expected });
        await backOff(attempt);
      }
    }
  }

  /** Chains `events` onto `base` and appends them at `expected`; caches the new head. */
  private async appendOn(
    streamId: string,
    events: readonly EventToAppend[],
    expected: ExpectedRevision,
    base: { readonly revision: number; readonly hash: string | null },
  ): Promise<AppendResult> {
    let previous = base.hash;
    let revision = base.revision;
    const chained = events.map((event): EventToAppend => {
      revision += 1;
      const given: JsonObject = { ...(event.metadata ?? {}), [PREV_HASH_FIELD]: previous };
      delete given[HASH_FIELD];
      // Stored with their keys in canonical order: hashing them again (verify) is then fast.
      const data = canonicalCopy(event.data);
      const metadata = canonicalCopy(given);
      const hash = eventHash(streamId, revision, event.type, data, metadata);
      metadata[HASH_FIELD] = hash;
      previous = hash;
      return { id: event.id, type: event.type, data, metadata };
    });
    let result: AppendResult;
    try {
      result = await this.inner.appendToStream(streamId, chained, { expectedRevision: expected });
    } catch (error) {
      // Forget the head unless it is already the one the store reports (another append of ours won).
      if (error instanceof WrongExpectedVersion && this.heads.get(streamId)?.revision !== error.actual) this.heads.delete(streamId);
      throw error;
    }
    if (result.nextExpectedRevision === revision && previous !== null) {
      this.remember(streamId, { revision, hash: previous, lastId: events[events.length - 1]!.id.toLowerCase() });
    } else {
      // An idempotent retry answered with an earlier result: the head is not known from here.
      this.heads.delete(streamId);
    }
    return result;
  }

  /** The head to build on for an exact expected revision: cached, else read; undefined when the stream has no such event. */
  private async headAt(streamId: string, revision: number): Promise<StreamHead | undefined> {
    const cached = this.heads.get(streamId);
    if (cached && cached.revision === revision) return cached;
    // The stream is past that revision already: the store refuses the append, or answers a retry
    // with its earlier result. Either way nothing is chained onto it, so nothing needs reading.
    if (cached && cached.revision > revision) return undefined;
    try {
      const [event] = await this.inner.readStream(streamId, { fromRevision: revision, maxCount: 1 });
      if (event === undefined || event.revision !== revision) return undefined;
      return { revision, hash: hashOfRecorded(event), lastId: event.id.toLowerCase() };
    } catch (error) {
      if (error instanceof StreamNotFound) return undefined;
      throw error;
    }
  }

  private async readHead(streamId: string): Promise<StreamHead | null> {
    try {
      const [event] = await this.inner.readStream(streamId, { direction: 'backwards', maxCount: 1 });
      if (event === undefined) return null;
      const head = { revision: event.revision, hash: hashOfRecorded(event), lastId: event.id.toLowerCase() };
      this.remember(streamId, head);
      return head;
    } catch (error) {
      if (error instanceof StreamNotFound) return null;
      throw error;
    }
  }

  private remember(streamId: string, head: StreamHead): void {
    // Appends with exact revisions may resolve out of order: keep the newest head.
    const cached = this.heads.get(streamId);
    if (cached && cached.revision > head.revision) return;
    // Bounded: a store with more streams than this reads the head of the least recently used again.
    this.heads.delete(streamId);
    if (this.heads.size >= MAX_CACHED_STREAMS) {
      const oldest = this.heads.keys().next();
      if (!oldest.done) this.heads.delete(oldest.value);
    }
    this.heads.set(streamId, head);
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.inner.readStream(streamId, options);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.inner.readAll(options);
  }

  readAllStored(fromPosition: number, maxCount: number): Promise<StoredEvent[]> {
    return this.inner.readAllStored(fromPosition, maxCount);
  }

  subscribeToAll(options?: SubscribeToAllOptions): Observable<RecordedEvent> {
    return this.inner.subscribeToAll(options);
  }

  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }

  knownRevision(streamId: string): number | undefined {
    return this.inner.knownRevision?.(streamId);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
