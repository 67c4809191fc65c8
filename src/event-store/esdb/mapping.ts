import {
  ANY,
  CancelledError,
  DeadlineExceededError,
  NO_STREAM,
  NotLeaderError,
  STREAM_EXISTS,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  convertToCommandError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
} from '@eventstore/db-client';
import type { AppendExpectedRevision, CurrentRevision, EventData, Filter, Position } from '@eventstore/db-client';
import {
  EventFilter,
  EventStoreError,
  EventStoreUnavailable,
  EventToAppend,
  ExpectedRevision,
  InvalidAppend,
  JsonObject,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedVersion,
} from '../event-store';

/**
 * Pure translations between the event store port and `@eventstore/db-client` 6.x. Nothing here
 * talks to a server, so every rule can be unit-tested.
 */

// ---------------------------------------------------------------------------------------------
// Connection string
// ---------------------------------------------------------------------------------------------

export const CONNECTION_STRING_VARIABLE = 'EVENTSTORE_CONNECTION_STRING';

/**
 * Schemes accepted in EVENTSTORE_CONNECTION_STRING, and the scheme the db-client 6 parser understands
 * for each (it only knows `esdb://` and `esdb+discover://`; KurrentDB is the same server renamed).
 */
export const CONNECTION_SCHEMES: Readonly<Record<string, 'esdb' | 'esdb+discover'>> = {
  esdb: 'esdb',
  'esdb+discover': 'esdb+discover',
  kurrentdb: 'esdb',
  'kurrentdb+discover': 'esdb+discover',
  kurrent: 'esdb',
  'kurrent+discover': 'esdb+discover',
  kdb: 'esdb',
  'kdb+discover': 'esdb+discover',
};

const ACCEPTED = Object.keys(CONNECTION_SCHEMES)
  .map((s) => `${s}://`)
  .join(', ');

/**
 * Returns the connection string with its scheme rewritten to one the db-client parser accepts
 * (`kurrentdb://…` → `esdb://…`, `kurrentdb+discover://…` → `esdb+discover://…`). The scheme is
 * matched case-insensitively; the rest of the string is left to the client's parser.
 * Errors never repeat the string itself, which may hold a password.
 */
export function normaliseConnectionString(raw: string | undefined): string {
  const value = raw?.trim() ?? '';
  if (value === '') {
    throw new Error(`${CONNECTION_STRING_VARIABLE} is empty: expected a connection string starting with one of ${ACCEPTED}`);
  }
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  const scheme = match?.[1]?.toLowerCase();
  const mapped = scheme === undefined ? undefined : CONNECTION_SCHEMES[scheme];
  if (match === null || mapped === undefined) {
    const got = scheme === undefined ? 'no scheme' : `scheme "${scheme}://"`;
    throw new Error(`${CONNECTION_STRING_VARIABLE} must start with one of ${ACCEPTED} (got ${got})`);
  }
  return `${mapped}://${value.slice(match[0].length)}`;
}

/** Hides the password of `scheme://user:password@host…` wherever the string appears in `text`. */
export function redactConnectionString(text: string, connectionString: string): string {
  const credentials = /^[^:]+:\/\/([^:@/]+):([^@]+)@/.exec(connectionString.trim());
  const password = credentials?.[2];
  if (password === undefined || password === '') return text;
  return text.split(password).join('***');
}

// ---------------------------------------------------------------------------------------------
// Numbers: revisions and positions
// ---------------------------------------------------------------------------------------------

/** A non-negative bigint from the server as a JS number; throws rather than lose precision. */
export function toSafeNumber(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`EventStoreDB ${what} ${value.toString()} is outside 0..Number.MAX_SAFE_INTEGER`);
  }
  return Number(value);
}

function assertPortInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidAppend(`${what} must be an integer >= 0 (got ${String(value)})`);
  }
}

/** Port expected revision → client expected revision. */
export function toClientExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      assertPortInteger(expected, 'expectedRevision');
      return BigInt(expected);
  }
}

/**
 * Client expected revision → port expected revision. The server's raw sentinels (which surface when
 * an error is built from gRPC metadata) are understood too: -1 no stream, -2 any, -4 stream exists.
 */
export function fromClientExpectedRevision(expected: AppendExpectedRevision): ExpectedRevision {
  switch (expected) {
    case ANY:
      return 'any';
    case NO_STREAM:
      return 'no_stream';
    case STREAM_EXISTS:
      return 'stream_exists';
    default:
      if (expected === -1n) return 'no_stream';
      if (expected === -2n) return 'any';
      if (expected === -4n) return 'stream_exists';
      return toSafeNumber(expected, 'revision');
  }
}

/** A stream's current revision as the client reports it → the port's `actual` (`no_stream` for -1 too). */
export function fromClientCurrentRevision(current: CurrentRevision): number | 'no_stream' {
  if (current === NO_STREAM || current < 0n) return 'no_stream';
  return toSafeNumber(current, 'revision');
}

/**
 * Positions. EventStoreDB positions are a (commit, prepare) pair of log offsets; the port's is one
 * number. For every event written by an ordinary append the server reports commit === prepare ===
 * the event's own log offset, so the commit position alone identifies the event, orders `$all`, and
 * is what we expose. Going back, a port position p becomes `{ commit: p, prepare: p }`, which is the
 * exact position of the event at p.
 *
 * The commit position is a byte offset in the transaction file, so it only exceeds
 * Number.MAX_SAFE_INTEGER (8 PiB) on an absurdly large database; we refuse rather than round.
 */
export function fromClientPosition(position: Position | bigint): number {
  const commit = typeof position === 'bigint' ? position : position.commit;
  return toSafeNumber(commit, 'commit position');
}

/** See {@link fromClientPosition}. */
export function toClientPosition(position: number): Position {
  assertPortInteger(position, 'position');
  return { commit: BigInt(position), prepare: BigInt(position) };
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/** Port event → client event data (always JSON; the caller's id makes the append idempotent). */
export function toClientEvent(event: EventToAppend): EventData {
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: event.data,
    ...(event.metadata !== undefined ? { metadata: event.metadata } : {}),
  });
}

/** The parts of the client's `ResolvedEvent` / `AllStreamResolvedEvent` the mapping reads. */
export interface ClientResolvedEvent {
  readonly event?: {
    readonly streamId: string;
    readonly id: string;
    readonly isJson: boolean;
    readonly revision: bigint;
    readonly type: string;
    readonly created: Date;
    readonly data: unknown;
    readonly metadata: unknown;
    readonly position?: Position;
  };
  readonly commitPosition?: bigint;
}

/** `$`-prefixed stream (`$all`-only projections, `$$` metastreams, `$stats-…`) or type (`$metadata`, `$>` links…). */
export function isSystemEvent(streamId: string, type: string): boolean {
  return streamId.startsWith('$') || type.startsWith('$');
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Client resolved event → port event, or `null` for what the port never returns: system events,
 * binary (non-JSON) events, and JSON events whose data is not an object (the port's data is always
 * an object; such events can only have been written by another tool). Metadata that is absent, binary
 * or not an object becomes `{}`.
 *
 * Throws when the server sent no position for the event (servers before 22.6 omit it on stream reads).
 */
export function toRecordedEvent(resolved: ClientResolvedEvent): RecordedEvent | null {
  const e = resolved.event;
  if (e === undefined) return null;
  if (isSystemEvent(e.streamId, e.type)) return null;
  if (!e.isJson || !isJsonObject(e.data)) return null;
  const position = e.position ?? resolved.commitPosition;
  if (position === undefined) {
    throw new Error(
      `EventStoreDB returned event ${e.id} of stream ${e.streamId} without a position (EventStoreDB 22.6 or later is required)`,
    );
  }
  return {
    id: e.id,
    streamId: e.streamId,
    revision: toSafeNumber(e.revision, 'revision'),
    position: fromClientPosition(position),
    type: e.type,
    data: e.data,
    metadata: isJsonObject(e.metadata) ? e.metadata : {},
    created: e.created,
  };
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/** Escapes a literal for the server's (.NET) regular expressions. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regular expression that matches nothing (an empty list of types or prefixes). */
export const MATCH_NOTHING = '(?!)';

/** `^(?:A|B)$` for exact event types. */
export function eventTypesRegex(types: readonly string[]): string {
  return types.length === 0 ? MATCH_NOTHING : `^(?:${types.map(escapeRegex).join('|')})$`;
}

/**
 * Port filter → the server-side filter of a subscription to `$all`. The server applies one filter,
 * on event type or on stream name, so when both are given the event types go to the server and the
 * stream prefixes are checked on our side; callers always re-check the whole filter with
 * `matchesFilter`, which also drops system events. Without a filter, system events are excluded
 * server-side (`excludeSystemEvents()`).
 */
export function toSubscriptionFilter(filter: EventFilter | undefined): Filter {
  if (filter?.eventTypes !== undefined) return eventTypeFilter({ regex: eventTypesRegex(filter.eventTypes) });
  if (filter?.streamPrefixes !== undefined) {
    return filter.streamPrefixes.length === 0
      ? streamNameFilter({ regex: MATCH_NOTHING })
      : streamNameFilter({ prefixes: [...filter.streamPrefixes] });
  }
  return excludeSystemEvents();
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export interface ErrorContext {
  /** The stream the operation was about; preferred to the name the client reports. */
  readonly streamId?: string;
  /** The expected revision exactly as the caller gave it. */
  readonly expectedRevision?: ExpectedRevision;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.constructor.name : String(error);
}

/** Whether a (client-converted) error means the server cannot be used right now. */
export function isUnavailableError(error: unknown): boolean {
  return (
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof NotLeaderError ||
    error instanceof TimeoutError ||
    error instanceof CancelledError ||
    (error instanceof Error && /^Failed to discover after \d+ attempts/.test(error.message))
  );
}

/**
 * Client error → port error. Raw gRPC errors are first converted the way the client converts them
 * (`convertToCommandError`). Wrong expected version, stream not found and "server unusable" errors
 * become the port's errors; anything else is returned as is, for the caller to rethrow.
 */
export function toPortError(error: unknown, context: ErrorContext = {}): unknown {
  if (error instanceof EventStoreError || !(error instanceof Error)) return error;
  const converted = convertToCommandError(error);
  if (converted instanceof WrongExpectedVersionError) {
    return new WrongExpectedVersion(
      context.streamId ?? converted.streamName,
      context.expectedRevision ?? fromClientExpectedRevision(converted.expectedVersion),
      fromClientCurrentRevision(converted.actualVersion),
    );
  }
  if (converted instanceof StreamNotFoundError) return new StreamNotFound(context.streamId ?? converted.streamName);
  if (isUnavailableError(converted)) {
    return new EventStoreUnavailable(`EventStoreDB is unavailable: ${describe(converted)}`, converted);
  }
  return converted;
}
