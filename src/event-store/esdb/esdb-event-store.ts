import { BACKWARDS, END, EventStoreDBClient, FORWARDS, START } from '@eventstore/db-client';
import type {
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendResult as ClientAppendResult,
  StreamingRead,
} from '@eventstore/db-client';
import { Observable } from 'rxjs';
import {
  AppendOptions,
  AppendResult,
  EventStore,
  EventStoreUnavailable,
  EventToAppend,
  InvalidAppend,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StoredEvent,
  SubscribeToAllOptions,
  WrongExpectedVersion,
  matchesFilter,
  validateAppend,
} from '../event-store';
import {
  CONNECTION_STRING_VARIABLE,
  fromClientCurrentRevision,
  fromClientPosition,
  normaliseConnectionString,
  redactConnectionString,
  toClientEvent,
  toClientExpectedRevision,
  toClientPosition,
  toPortError,
  toRecordedEvent,
  toSafeNumber,
  toSubscriptionFilter,
} from './mapping';

export interface EsdbEventStoreOptions {
  /** How long `ping()` waits for the server before reporting it unavailable (ms). Default 2000. */
  readonly pingTimeoutMs?: number;
  /**
   * Appends and reads that meet an unavailable server (down, not the leader, past a deadline) are
   * tried again after `baseDelayMs`, then twice as long each time, `attempts` times in all, before the
   * error reaches the caller. Appends are safe to repeat: the server recognises a batch by its event
   * ids. Default: 4 attempts from 100 ms (about 0.7 s in all).
   */
  readonly retry?: { readonly attempts: number; readonly baseDelayMs: number };
}

/**
 * Reads a client stream item by item until `visit` returns false or the stream ends. A stream left
 * early (or on an error thrown by `visit`) is cancelled, so the server stops sending.
 */
async function drain<T>(read: StreamingRead<T>, visit: (item: T) => boolean): Promise<void> {
  let exhausted = false;
  try {
    for await (const item of read) {
      if (!visit(item)) return;
    }
    exhausted = true;
  } finally {
    if (!exhausted) await read.cancel().catch(() => undefined);
  }
}

function assertCount(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new InvalidAppend(`${what} must be an integer >= 0 (got ${String(value)})`);
  }
}

/**
 * The event store port on EventStoreDB / KurrentDB (gRPC, `@eventstore/db-client` 6).
 *
 * - Positions are commit positions (see `fromClientPosition` in `./mapping`).
 * - System events (`$`-prefixed stream or type) and non-JSON events are never returned.
 * - Reading `$all` (readAll, subscribeToAll, headPosition, ping) needs a user allowed to read `$all`
 *   (by default, members of `$admins` or `$ops` on a secure server).
 * - Idempotency by event id is the server's: a retry of the same batch at the same expected revision
 *   returns the earlier result. Unlike the SQLite store, the server does not refuse an event id reused
 *   in a different batch, so `DuplicateEventId` is never thrown here.
 */
export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb' as const;
  private readonly pingTimeoutMs: number;
  private readonly retry: { readonly attempts: number; readonly baseDelayMs: number };
  private closed = false;

  constructor(private readonly client: EventStoreDBClient, options: EsdbEventStoreOptions = {}) {
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.retry = options.retry ?? { attempts: 4, baseDelayMs: 100 };
  }

  /** Runs `attempt` until it succeeds, fails otherwise than unavailable, or has used every retry. */
  private async retrying<T>(operation: string, attempt: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof EventStoreUnavailable) || this.closed) throw error;
        if (tries >= this.retry.attempts) {
          throw new EventStoreUnavailable(
            `${operation}: EventStoreDB still unavailable after ${tries} attempts over ${Date.now() - started} ms: ${error.message}`,
            error,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, this.retry.baseDelayMs * 2 ** (tries - 1)));
      }
    }
  }

  appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    return this.retrying(`append to ${streamId}`, () => this.appendOnce(streamId, events, options));
  }

  readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return this.retrying(`read ${streamId}`, () => this.readStreamOnce(streamId, options));
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return this.retrying('read $all', () => this.readAllOnce(options));
  }

  /** The client hands out decoded JSON only: the text is its `JSON.stringify`, the text the client was given. */
  async readAllStored(fromPosition: number, maxCount: number): Promise<StoredEvent[]> {
    const events = await this.readAll({ fromPosition, maxCount });
    return events.map((e) => ({
      streamId: e.streamId,
      revision: e.revision,
      position: e.position,
      type: e.type,
      data: JSON.stringify(e.data),
      metadata: JSON.stringify(e.metadata),
    }));
  }

  headPosition(): Promise<number> {
    return this.retrying('read the head of $all', () => this.headPositionOnce());
  }

  /**
   * Creates the store from EVENTSTORE_CONNECTION_STRING (`esdb://`, `esdb+discover://`, `kurrentdb://`,
   * `kurrentdb+discover://`, `kurrent://`, `kdb://` and their `+discover` forms). Does not connect: the
   * client connects on first use, so call `ping()` to check the server.
   */
  static connect(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
    const normalised = normaliseConnectionString(connectionString);
    let client: EventStoreDBClient;
    try {
      client = EventStoreDBClient.connectionString(normalised);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `${CONNECTION_STRING_VARIABLE} is not a valid EventStoreDB connection string: ${redactConnectionString(reason, normalised)}`,
      );
    }
    return new EsdbEventStore(client, options);
  }

  private async appendOnce(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    const expected = options.expectedRevision;
    validateAppend(streamId, events, expected);
    this.assertOpen();
    let result: ClientAppendResult;
    try {
      result = await this.client.appendToStream(streamId, events.map(toClientEvent), {
        expectedRevision: toClientExpectedRevision(expected),
      });
    } catch (error) {
      throw toPortError(error, { streamId, expectedRevision: expected });
    }
    // Only reached with `throwOnAppendFailure=false` in the connection string.
    if (!result.success) throw new WrongExpectedVersion(streamId, expected, fromClientCurrentRevision(result.nextExpectedRevision));
    const nextExpectedRevision = toSafeNumber(result.nextExpectedRevision, 'revision');
    // The server reports the position of the last event written; an idempotent retry on an older
    // server may come back without one, so it is then read from the stream.
    const position =
      result.position !== undefined ? fromClientPosition(result.position) : await this.positionOf(streamId, nextExpectedRevision);
    return { nextExpectedRevision, position };
  }

  private async positionOf(streamId: string, revision: number): Promise<number> {
    const [event] = await this.readStream(streamId, { fromRevision: revision, maxCount: 1 });
    if (event === undefined || event.revision !== revision) {
      throw new Error(`EventStoreDB did not return the position of ${streamId}@${revision} after appending it`);
    }
    return event.position;
  }

  private async readStreamOnce(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    assertCount(options.fromRevision, 'fromRevision');
    assertCount(options.maxCount, 'maxCount');
    this.assertOpen();
    const backwards = options.direction === 'backwards';
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const out: RecordedEvent[] = [];
    try {
      // With maxCount 0 one event is still asked for, so that a missing stream is still reported.
      const read = this.client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision),
        maxCount: Math.max(maxCount, 1),
      });
      await drain(read, (resolved) => {
        if (out.length >= maxCount) return false;
        const event = toRecordedEvent(resolved);
        if (event !== null) out.push(event);
        return out.length < maxCount;
      });
    } catch (error) {
      throw toPortError(error, { streamId });
    }
    return out;
  }

  /**
   * Filters client-side (the 6.x client's `readAll` has no server-side filter), reading on until
   * `maxCount` matching events or the end of `$all`.
   */
  private async readAllOnce(options: ReadAllOptions): Promise<RecordedEvent[]> {
    assertCount(options.fromPosition, 'fromPosition');
    assertCount(options.maxCount, 'maxCount');
    this.assertOpen();
    const backwards = options.direction === 'backwards';
    const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    const from = options.fromPosition;
    const wanted = (event: RecordedEvent | null): event is RecordedEvent =>
      event !== null && matchesFilter(options.filter, event.streamId, event.type);
    const out: RecordedEvent[] = [];
    if (maxCount === 0) return out;
    try {
      if (backwards && from !== undefined) {
        // The server reads `$all` backwards from a position exclusively (it returns the records that
        // end at or before it), while the port's fromPosition is inclusive: the event at exactly
        // `from` is fetched with a one-event forward read, which is inclusive.
        await drain(this.client.readAll({ direction: FORWARDS, fromPosition: toClientPosition(from), maxCount: 1 }), (resolved) => {
          const event = toRecordedEvent(resolved);
          if (wanted(event) && event.position === from) out.push(event);
          return false;
        });
      }
      if (out.length < maxCount) {
        const read = this.client.readAll({
          direction: backwards ? BACKWARDS : FORWARDS,
          fromPosition: from === undefined ? (backwards ? END : START) : toClientPosition(from),
        });
        await drain(read, (resolved) => {
          const event = toRecordedEvent(resolved);
          const inRange = from === undefined || event === null || (backwards ? event.position < from : event.position >= from);
          if (wanted(event) && inRange) out.push(event);
          return out.length < maxCount;
        });
      }
    } catch (error) {
      throw toPortError(error);
    }
    return out;
  }

  /**
   * A catch-up subscription to `$all`. The server starts after `fromPosition` (a checkpoint) and
   * switches to live on its own without gap or duplicate; events at or before the checkpoint, or not
   * after the last one emitted, are dropped here as a safeguard. The filter is applied server-side
   * where possible and always re-checked with `matchesFilter`.
   *
   * The observable errors with a port error when the subscription fails, and with
   * `EventStoreUnavailable` when the server ends it: subscribe again from the last checkpoint.
   */
  subscribeToAll(options: SubscribeToAllOptions = {}): Observable<RecordedEvent> {
    return new Observable<RecordedEvent>((subscriber) => {
      let last = -1;
      let subscription: AllStreamSubscription;
      try {
        this.assertOpen();
        assertCount(options.fromPosition, 'fromPosition');
        if (options.fromPosition !== undefined) last = options.fromPosition;
        subscription = this.client.subscribeToAll({
          fromPosition: options.fromPosition === undefined ? START : toClientPosition(options.fromPosition),
          filter: toSubscriptionFilter(options.filter),
        });
      } catch (error) {
        subscriber.error(toPortError(error));
        return undefined;
      }
      const onData = (resolved: AllStreamResolvedEvent): void => {
        let event: RecordedEvent | null;
        try {
          event = toRecordedEvent(resolved);
        } catch (error) {
          subscriber.error(error);
          return;
        }
        if (event === null || event.position <= last) return;
        if (!matchesFilter(options.filter, event.streamId, event.type)) return;
        last = event.position;
        subscriber.next(event);
      };
      const onError = (error: Error): void => subscriber.error(toPortError(error));
      const onEnd = (): void => subscriber.error(new EventStoreUnavailable('EventStoreDB ended the subscription to $all'));
      subscription.on('data', onData);
      subscription.on('error', onError);
      subscription.on('end', onEnd);
      return () => {
        subscription.removeListener('data', onData);
        subscription.removeListener('end', onEnd);
        // Errors raised while the subscription is torn down have nowhere to go.
        subscription.removeListener('error', onError);
        subscription.on('error', () => undefined);
        subscription.unsubscribe().catch(() => undefined);
      };
    });
  }

  /**
   * The position of the last event the port can return: `$all` is read backwards past system events
   * (the server writes some of its own all the time, such as `$stats-…`), so the head matches the
   * checkpoint of a subscriber that has seen everything. 0 when there is no such event.
   */
  private async headPositionOnce(): Promise<number> {
    this.assertOpen();
    let head = 0;
    try {
      await drain(this.client.readAll({ direction: BACKWARDS, fromPosition: END }), (resolved) => {
        const event = toRecordedEvent(resolved);
        if (event === null) return true;
        head = event.position;
        return false;
      });
    } catch (error) {
      throw toPortError(error);
    }
    return head;
  }

  /**
   * Reads the last record of `$all`, giving up after `pingTimeoutMs` (the client's reads have no
   * deadline of their own). Any failure is reported as `EventStoreUnavailable`.
   */
  async ping(): Promise<void> {
    this.assertOpen();
    const read = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new EventStoreUnavailable(`EventStoreDB did not answer within ${this.pingTimeoutMs} ms`)),
        this.pingTimeoutMs,
      );
    });
    try {
      await Promise.race([drain(read, () => false), timeout]);
    } catch (error) {
      read.cancel().catch(() => undefined);
      const mapped = toPortError(error);
      if (mapped instanceof EventStoreUnavailable) throw mapped;
      const reason = mapped instanceof Error ? mapped.message : String(mapped);
      throw new EventStoreUnavailable(`EventStoreDB is unavailable: ${reason}`, mapped);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.dispose();
  }

  private assertOpen(): void {
    if (this.closed) throw new EventStoreUnavailable('event store is closed');
  }
}
