import type { Observable } from 'rxjs';

/**
 * The event store port. Everything above it (command handlers, projections, CLI) talks to this
 * interface only; the SQLite and EventStoreDB adapters both pass `test/contract`.
 */

import type { JsonObject } from '../common/json';

export type { JsonObject, JsonValue } from '../common/json';

/** What the caller appends. `id` is a UUID chosen by the caller and makes the append idempotent. */
export interface EventToAppend {
  readonly id: string;
  readonly type: string;
  readonly data: JsonObject;
  readonly metadata?: JsonObject;
}

/** An event as stored. `revision` counts from 0 within its stream; `position` is global and strictly increasing. */
export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly type: string;
  readonly data: JsonObject;
  readonly metadata: JsonObject;
  readonly created: Date;
}

/**
 * An event as its store keeps it: data and metadata as the JSON text stored, not decoded. Checking
 * the hash chain against the kept bytes needs nothing more (see `readAllStored`).
 */
export interface StoredEvent {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly type: string;
  /** JSON text of the data. */
  readonly data: string;
  /** JSON text of the metadata (`{}` when the event has none). */
  readonly metadata: string;
}

/** `any`: no check; `no_stream`: the stream must not exist; `stream_exists`: it must; a number: its last revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendOptions {
  readonly expectedRevision: ExpectedRevision;
}

export interface AppendResult {
  /** Revision of the last event now in the stream: pass it as `expectedRevision` for the next append. */
  readonly nextExpectedRevision: number;
  /** Global position of the last event appended. */
  readonly position: number;
  /**
   * Optional: the global position of the first event appended, when the append's events took
   * consecutive positions from it (SQLite's do), so that each event's is `firstPosition + i`.
   * Absent when the store cannot say so (EventStoreDB's positions are log offsets): the caller then
   * reads the positions back. A retry answered with the earlier result answers it as that did.
   */
  readonly firstPosition?: number;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive. Defaults to the start (forwards) or the end (backwards). */
  readonly fromRevision?: number;
  readonly direction?: Direction;
  readonly maxCount?: number;
}

/** Both fields, when given, must match. System events (`$`-prefixed types or streams) are never returned. */
export interface EventFilter {
  /** Exact event types. */
  readonly eventTypes?: readonly string[];
  /** Stream id prefixes, e.g. `migration-`. */
  readonly streamPrefixes?: readonly string[];
}

export interface ReadAllOptions {
  /** Inclusive (as EventStoreDB's `readAll`). Defaults to the start (forwards) or the end (backwards). */
  readonly fromPosition?: number;
  readonly direction?: Direction;
  readonly maxCount?: number;
  readonly filter?: EventFilter;
}

export interface SubscribeToAllOptions {
  /** Exclusive: a checkpoint, the position of the last event already processed. Omit to start at the beginning. */
  readonly fromPosition?: number;
  readonly filter?: EventFilter;
}

export interface EventStore {
  /** `sqlite` or `esdb`, as `/health` reports it. */
  readonly kind: 'sqlite' | 'esdb';

  /**
   * Appends atomically. Throws {@link WrongExpectedVersion} when the stream's revision does not match.
   * Re-appending the same event ids at the same expected revision returns the earlier result and stores nothing.
   */
  appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult>;

  /** Throws {@link StreamNotFound} when the stream has no events. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;

  /**
   * The log forwards from `fromPosition` (inclusive), at most `maxCount` events, system events left
   * out, with data and metadata as stored JSON text. Verifying the log reads it this way: hashing
   * the kept text costs a fraction of decoding it. A store that hands out decoded values only
   * (EventStoreDB's client) gives their `JSON.stringify`, which is the text it was given.
   */
  readAllStored(fromPosition: number, maxCount: number): Promise<StoredEvent[]>;

  /** Catch-up from the checkpoint, then live, in global order, with no gap and no duplicate at the switch. */
  subscribeToAll(options?: SubscribeToAllOptions): Observable<RecordedEvent>;

  /** Position of the last event in the log (0 when empty). */
  headPosition(): Promise<number>;

  /**
   * Optional: the stream's last revision when the store knows it without reading the stream, because
   * this store object made the last append to it and nothing has been appended to the log by anyone
   * else since. Undefined whenever that is not certain: the caller then reads the stream.
   */
  knownRevision?(streamId: string): number | undefined;

  /**
   * Optional: fires after this store's commits have been answered (and, while anyone follows the log,
   * when it notices another process's), so that a reader of the same log elsewhere (the read models'
   * thread) reads on at once rather than at its next poll. The SQLite store has it.
   */
  readonly commitNotices?: Observable<void> | undefined;

  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EventStore');

/** Base of the errors the port defines; `code` is stable and shown to users. */
export abstract class EventStoreError extends Error {
  abstract readonly code: string;
}

export class WrongExpectedVersion extends EventStoreError {
  readonly code = 'WRONG_EXPECTED_VERSION';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's last revision, or `no_stream` when it does not exist. */
    readonly actual: number | 'no_stream',
  ) {
    super(`Stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedVersion';
  }
}

export class StreamNotFound extends EventStoreError {
  readonly code = 'STREAM_NOT_FOUND';
  constructor(readonly streamId: string) {
    super(`Stream ${streamId} not found`);
    this.name = 'StreamNotFound';
  }
}

/** An event id already stored, appended as part of a different batch: not a retry, so refused. */
export class DuplicateEventId extends EventStoreError {
  readonly code = 'DUPLICATE_EVENT_ID';
  constructor(readonly eventId: string, readonly streamId: string) {
    super(`Event id ${eventId} is already stored (stream ${streamId}) as part of a different append`);
    this.name = 'DuplicateEventId';
  }
}

export class EventStoreUnavailable extends EventStoreError {
  readonly code = 'EVENT_STORE_UNAVAILABLE';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'EventStoreUnavailable';
  }
}

/**
 * Nothing may be appended: the tamper-evident log is broken (an event edited, deleted, reordered, or the
 * log cut or rewritten, as the signed checkpoints show), and appending would chain onto the break.
 */
export class AuditLogBroken extends EventStoreError {
  readonly code = 'AUDIT_LOG_BROKEN';
  constructor(message: string, readonly at: unknown) {
    super(message);
    this.name = 'AuditLogBroken';
  }
}

/** Invalid arguments to the port (bad stream id, bad revision, event not JSON). */
export class InvalidAppend extends EventStoreError {
  readonly code = 'INVALID_APPEND';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAppend';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks what every adapter must refuse, so they refuse it the same way. */
export function validateAppend(streamId: string, events: readonly EventToAppend[], expected: ExpectedRevision): void {
  if (typeof streamId !== 'string' || streamId.length === 0 || streamId.startsWith('$')) {
    throw new InvalidAppend(`streamId must be a non-empty string not starting with "$" (got ${JSON.stringify(streamId)})`);
  }
  if (typeof expected === 'number' && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidAppend(`expectedRevision must be any, no_stream, stream_exists or a revision >= 0 (got ${expected})`);
  }
  if (events.length === 0) throw new InvalidAppend('an append needs at least one event');
  const ids = new Set<string>();
  for (const e of events) {
    if (!UUID.test(e.id)) throw new InvalidAppend(`event id must be a UUID (got ${JSON.stringify(e.id)})`);
    if (ids.has(e.id.toLowerCase())) throw new InvalidAppend(`event id ${e.id} appears twice in one append`);
    ids.add(e.id.toLowerCase());
    if (typeof e.type !== 'string' || e.type.length === 0 || e.type.startsWith('$')) {
      throw new InvalidAppend(`event type must be a non-empty string not starting with "$" (got ${JSON.stringify(e.type)})`);
    }
  }
}

/** Whether an event passes a filter (used where a store cannot filter on its own). */
export function matchesFilter(filter: EventFilter | undefined, streamId: string, type: string): boolean {
  if (streamId.startsWith('$') || type.startsWith('$')) return false;
  if (!filter) return true;
  if (filter.eventTypes && !filter.eventTypes.includes(type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => streamId.startsWith(p))) return false;
  return true;
}

/**
 * The store could not be opened as it is (a file that is not ours, newer, corrupt or not writable by
 * this account). Nothing was modified. The server and the CLI stop with its message and exit 2.
 */
export class StoreFileError extends EventStoreError {
  readonly code = 'STORE_FILE_INVALID';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}; the file was not modified`);
    this.name = 'StoreFileError';
  }
}

/**
 * Whether an error says that a store file is damaged (SQLite's codes: the only store whose damage
 * can surface outside a call to the port, from a read model's file or a background checkpoint).
 */
export function isCorruptionError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT_'));
}
