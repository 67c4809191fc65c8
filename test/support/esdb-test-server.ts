import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Empty, StreamIdentifier, UUID } from '@eventstore/db-client/generated/shared_pb';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { SupportedMethod, SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import {
  AppendReq,
  AppendResp,
  DeleteReq,
  DeleteResp,
  ReadReq,
  ReadResp,
  TombstoneReq,
  TombstoneResp,
} from '@eventstore/db-client/generated/streams_pb';

/**
 * An in-memory server speaking the EventStoreDB gRPC protocol (the `event_store.client.streams.Streams`
 * and `event_store.client.server_features.ServerFeatures` services, as `@eventstore/db-client` 6 ships
 * them) for what the EventStoreDB adapter uses, so the adapter runs through the real client over a real
 * socket in every test run.
 *
 * Supported:
 * - Append (client streaming): expected revision any / no_stream / stream_exists / exact; event ids as
 *   string or structured UUIDs; idempotent retries by event id (the same ids at the same expected
 *   revision, or with `any` / `stream_exists` when the batch is already in the stream, return the
 *   earlier result; a batch that only partly matches is a wrong expected version). A real server
 *   recognises `any` retries only while the first id is in its recent-events cache; this one always
 *   does. Wrong expected version in the response; maximum append size; appends to a tombstoned stream
 *   fail with `stream-deleted`.
 * - Read (server streaming) of a stream or of `$all`, forwards or backwards, from start / end /
 *   revision / position, with a count, with or without a filter (event type or stream name, by prefixes
 *   or regex) and `stream not found`.
 * - Subscriptions (Read with subscription options) to a stream or to `$all`: confirmation, catch-up,
 *   `caught up`, then live in log order with no gap and no duplicate; filtered `$all` subscriptions send
 *   checkpoints every `checkpointIntervalMultiplier × window` events scanned (window = `max`, or 32).
 * - Delete (soft: the stream reads as not found, a later append continues its revisions) and Tombstone.
 * - ServerFeatures.GetSupportedMethods (BatchAppend is not advertised, so the client uses Append).
 * - Faults: `stop()` / `restart()` (same port, data kept; open calls are cut as a crashed server cuts
 *   them), `injectFault` (fail the next calls of a method with a status, e.g. UNAVAILABLE or NOT_LEADER)
 *   and `delay` (hold a method's answer, to make the client's deadline expire).
 *
 * Positions are byte-offset-like: each record takes `RECORD_OVERHEAD` bytes plus its stream name, type,
 * data and metadata, and commit = prepare = the record's own offset. The log starts with a few system
 * records (`$`-prefixed streams and types), as a real server's does, so that clients must skip them.
 */

export interface EsdbTestServer {
  /** `esdb://127.0.0.1:<port>?tls=false` */
  readonly connectionString: string;
  readonly port: number;
  /** Stops the server, cutting open calls. Data is kept for `restart()`. */
  stop(): Promise<void>;
  /** Starts again on the same port with the same data (after `stop()`, or stops first). */
  restart(): Promise<void>;
  /** Fails the next `times` (default 1) calls of `method` with `status`. */
  injectFault(fault: InjectedFault): void;
  /** Holds the answer of every call of `method` for `ms` until cleared with `delay(method, 0)`. */
  delay(method: FaultMethod, ms: number): void;
  /** Appends a record directly to the log (e.g. a system event), as another client would. */
  appendRaw(streamId: string, type: string, data: unknown): number;
  /** Number of subscriptions currently open (live or catching up). */
  openSubscriptions(): number;
}

export type FaultMethod = 'Append' | 'Read' | 'Delete' | 'Tombstone' | 'GetSupportedMethods';

export interface InjectedFault {
  readonly method: FaultMethod;
  readonly status: grpc.status;
  readonly details?: string;
  /** gRPC trailers, e.g. `{ exception: 'not-leader', 'leader-endpoint-host': '…', 'leader-endpoint-port': '…' }`. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly times?: number;
}

export interface EsdbTestServerOptions {
  /** Maximum total size of an append (event data + metadata + type), as the server's MaxAppendSize. Default 1 MiB. */
  readonly maxAppendSize?: number;
  readonly serverVersion?: string;
  /**
   * Whether the answer to an idempotent retry carries the position of the earlier write (default true).
   * False answers `no_position`, as some server versions do.
   */
  readonly positionOnIdempotentRetry?: boolean;
}

const RECORD_OVERHEAD = 96;
const DEFAULT_SEARCH_WINDOW = 32;
const TICKS_PER_MS = 10_000n;

interface StoredEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly type: string;
  readonly contentType: string;
  readonly created: bigint;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

interface StreamState {
  readonly events: StoredEvent[];
  /** Revisions below this are soft-deleted. */
  truncateBefore: number;
  tombstoned: boolean;
}

type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: number };

interface Filter {
  readonly on: 'stream' | 'type';
  readonly test: (value: string) => boolean;
  readonly checkpointInterval: number;
}

interface Subscription {
  /** Writes what is available; called after every append. */
  pump(): void;
}

class ServerError extends Error {
  constructor(
    readonly code: grpc.status,
    details: string,
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(details);
  }

  toServiceError(): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.trailers)) metadata.set(k, v);
    return { code: this.code, details: this.message, metadata };
  }
}

function streamDeleted(streamId: string): ServerError {
  return new ServerError(grpc.status.FAILED_PRECONDITION, `Event stream '${streamId}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': streamId,
  });
}

function streamName(identifier: StreamIdentifier | undefined): string {
  if (identifier === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'stream identifier is required');
  return Buffer.from(identifier.getStreamName_asU8()).toString('utf8');
}

function identifierOf(streamId: string): StreamIdentifier {
  const id = new StreamIdentifier();
  id.setStreamName(Buffer.from(streamId, 'utf8'));
  return id;
}

function parseUuid(uuid: UUID | undefined): string {
  if (uuid === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'event id is required');
  if (uuid.hasStructured()) {
    const s = uuid.getStructured()!;
    const hex =
      BigInt.asUintN(64, BigInt(s.getMostSignificantBits())).toString(16).padStart(16, '0') +
      BigInt.asUintN(64, BigInt(s.getLeastSignificantBits())).toString(16).padStart(16, '0');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const text = uuid.getString().toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text)) {
    throw new ServerError(grpc.status.INVALID_ARGUMENT, `invalid event id ${JSON.stringify(uuid.getString())}`);
  }
  return text;
}

function toUuid(id: string, structured: boolean): UUID {
  const uuid = new UUID();
  if (!structured) {
    uuid.setString(id);
    return uuid;
  }
  const hex = id.replace(/-/g, '');
  const s = new UUID.Structured();
  s.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString());
  s.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString());
  uuid.setStructured(s);
  return uuid;
}

function readFilter(options: ReadReq.Options): Filter | undefined {
  if (!options.hasFilter()) return undefined;
  const f = options.getFilter()!;
  const on = f.hasStreamIdentifier() ? 'stream' : f.hasEventType() ? 'type' : undefined;
  if (on === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'filter needs a stream identifier or event type expression');
  const expr = (on === 'stream' ? f.getStreamIdentifier() : f.getEventType())!;
  const prefixes = expr.getPrefixList();
  let test: (value: string) => boolean;
  if (prefixes.length > 0) {
    test = (value) => prefixes.some((p) => value.startsWith(p));
  } else {
    let regex: RegExp;
    try {
      regex = new RegExp(expr.getRegex());
    } catch (error) {
      throw new ServerError(grpc.status.INVALID_ARGUMENT, `invalid filter regex: ${(error as Error).message}`);
    }
    test = (value) => regex.test(value);
  }
  const window = f.hasMax() ? f.getMax() : DEFAULT_SEARCH_WINDOW;
  const multiplier = f.getCheckpointintervalmultiplier() || 1;
  return { on, test, checkpointInterval: Math.max(1, window * multiplier) };
}

function passes(filter: Filter | undefined, event: StoredEvent): boolean {
  if (filter === undefined) return true;
  return filter.test(filter.on === 'stream' ? event.streamId : event.type);
}

/** Index of the first element for which `before` is false (elements must be ordered). */
function lowerBound<T>(items: readonly T[], before: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(items[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class InMemoryLog {
  readonly all: StoredEvent[] = [];
  readonly streams = new Map<string, StreamState>();
  readonly subscriptions = new Set<Subscription>();
  private nextPosition = 0;

  constructor(readonly maxAppendSize: number) {}

  private stream(streamId: string): StreamState {
    let s = this.streams.get(streamId);
    if (s === undefined) {
      s = { events: [], truncateBefore: 0, tombstoned: false };
      this.streams.set(streamId, s);
    }
    return s;
  }

  /** The last revision, or -1 when the stream does not exist (never written, or soft-deleted with nothing after). */
  currentRevision(streamId: string): number {
    const s = this.streams.get(streamId);
    if (s === undefined || s.events.length <= s.truncateBefore) return -1;
    return s.events.length - 1;
  }

  visibleEvents(streamId: string): StoredEvent[] | undefined {
    const s = this.streams.get(streamId);
    if (s === undefined) return undefined;
    if (s.tombstoned) throw streamDeleted(streamId);
    if (s.events.length <= s.truncateBefore) return undefined;
    return s.events.slice(s.truncateBefore);
  }

  private write(streamId: string, proposed: Omit<StoredEvent, 'streamId' | 'revision' | 'position' | 'created'>[]): StoredEvent[] {
    const s = this.stream(streamId);
    const created = BigInt(Date.now()) * TICKS_PER_MS;
    const written: StoredEvent[] = [];
    for (const p of proposed) {
      const event: StoredEvent = { ...p, streamId, revision: s.events.length, position: this.nextPosition, created };
      this.nextPosition +=
        RECORD_OVERHEAD + Buffer.byteLength(streamId) + Buffer.byteLength(p.type) + p.data.length + p.customMetadata.length;
      s.events.push(event);
      this.all.push(event);
      written.push(event);
    }
    for (const sub of [...this.subscriptions]) sub.pump();
    return written;
  }

  appendRaw(streamId: string, type: string, data: unknown): number {
    const [event] = this.write(streamId, [
      {
        id: randomUUID(),
        type,
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify(data)),
        customMetadata: new Uint8Array(),
      },
    ]);
    return event!.position;
  }

  /**
   * The server's append rules (EventStoreDB's commit check): an exact expected revision (or no_stream)
   * behind the stream is an idempotent retry when the events after it carry the same ids; with any /
   * stream_exists, a batch whose first id is in the stream is a retry when the rest follow it.
   */
  append(
    streamId: string,
    expected: Expected,
    proposed: Omit<StoredEvent, 'streamId' | 'revision' | 'position' | 'created'>[],
  ): { kind: 'ok'; revision: number; position: number; retry?: true } | { kind: 'wrong'; current: number } {
    const s = this.streams.get(streamId);
    if (s?.tombstoned) throw streamDeleted(streamId);
    let size = 0;
    for (const p of proposed) size += p.data.length + p.customMetadata.length + Buffer.byteLength(p.type);
    if (size > this.maxAppendSize) {
      throw new ServerError(grpc.status.INVALID_ARGUMENT, `Maximum Append Size of ${this.maxAppendSize} Exceeded.`, {
        exception: 'maximum-append-size-exceeded',
        'maximum-append-size': String(this.maxAppendSize),
      });
    }
    const current = this.currentRevision(streamId);
    const events = s?.events ?? [];
    const retryFrom = (first: number): { kind: 'ok'; revision: number; position: number; retry: true } | undefined => {
      if (proposed.length === 0 || first < (s?.truncateBefore ?? 0)) return undefined;
      for (let i = 0; i < proposed.length; i++) {
        if (events[first + i]?.id !== proposed[i]!.id) return undefined;
      }
      const last = events[first + proposed.length - 1]!;
      return { kind: 'ok', revision: last.revision, position: last.position, retry: true };
    };
    const commit = (): { kind: 'ok'; revision: number; position: number } => {
      if (proposed.length === 0) return { kind: 'ok', revision: current, position: this.lastPosition(streamId) };
      const written = this.write(streamId, proposed);
      const last = written[written.length - 1]!;
      return { kind: 'ok', revision: last.revision, position: last.position };
    };
    switch (expected.kind) {
      case 'any':
      case 'stream_exists': {
        if (expected.kind === 'stream_exists' && current < 0) return { kind: 'wrong', current };
        const firstId = proposed[0]?.id;
        const at = firstId === undefined ? -1 : events.findIndex((e) => e.id === firstId);
        if (at >= 0) return retryFrom(at) ?? { kind: 'wrong', current };
        return commit();
      }
      case 'no_stream':
      case 'revision': {
        const want = expected.kind === 'no_stream' ? -1 : expected.revision;
        if (want === current) return commit();
        if (want < current) return retryFrom(want + 1) ?? { kind: 'wrong', current };
        return { kind: 'wrong', current };
      }
    }
  }

  private lastPosition(streamId: string): number {
    const s = this.streams.get(streamId);
    return s?.events[s.events.length - 1]?.position ?? 0;
  }

  deleteStream(streamId: string, expected: Expected, tombstone: boolean): { kind: 'ok'; position: number } | { kind: 'wrong'; current: number } {
    const s = this.streams.get(streamId);
    if (s?.tombstoned) throw streamDeleted(streamId);
    const current = this.currentRevision(streamId);
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && current === -1) ||
      (expected.kind === 'stream_exists' && current >= 0) ||
      (expected.kind === 'revision' && expected.revision === current);
    if (!ok) return { kind: 'wrong', current };
    const state = this.stream(streamId);
    if (tombstone) {
      state.tombstoned = true;
      return { kind: 'ok', position: this.appendRaw(streamId, '$streamDeleted', {}) };
    }
    state.truncateBefore = state.events.length;
    return { kind: 'ok', position: this.appendRaw(`$$${streamId}`, '$metadata', { $tb: state.truncateBefore }) };
  }
}

function parseExpected(options: {
  hasRevision(): boolean;
  getRevision(): string;
  hasNoStream(): boolean;
  hasAny(): boolean;
  hasStreamExists(): boolean;
}): Expected {
  if (options.hasRevision()) return { kind: 'revision', revision: Number(options.getRevision()) };
  if (options.hasNoStream()) return { kind: 'no_stream' };
  if (options.hasStreamExists()) return { kind: 'stream_exists' };
  return { kind: 'any' };
}

function wrongExpectedVersion(current: number, expected: Expected): AppendResp {
  const wrong = new AppendResp.WrongExpectedVersion();
  if (current < 0) wrong.setCurrentNoStream(new Empty());
  else wrong.setCurrentRevision(String(current));
  switch (expected.kind) {
    case 'any':
      wrong.setExpectedAny(new Empty());
      break;
    case 'no_stream':
      wrong.setExpectedNoStream(new Empty());
      break;
    case 'stream_exists':
      wrong.setExpectedStreamExists(new Empty());
      break;
    case 'revision':
      wrong.setExpectedRevision(String(expected.revision));
      break;
  }
  const resp = new AppendResp();
  resp.setWrongExpectedVersion(wrong);
  return resp;
}

function wrongExpectedVersionError(streamId: string, current: number, expected: Expected): ServerError {
  const sentinel = { any: -2, no_stream: -1, stream_exists: -4 } as const;
  return new ServerError(grpc.status.FAILED_PRECONDITION, `Wrong expected version for stream ${streamId}`, {
    exception: 'wrong-expected-version',
    'stream-name': streamId,
    'expected-version': String(expected.kind === 'revision' ? expected.revision : sentinel[expected.kind]),
    'actual-version': String(current),
  });
}

function readEvent(event: StoredEvent, structuredIds: boolean, withPosition: boolean): ReadResp {
  const recorded = new ReadResp.ReadEvent.RecordedEvent();
  recorded.setId(toUuid(event.id, structuredIds));
  recorded.setStreamIdentifier(identifierOf(event.streamId));
  recorded.setStreamRevision(String(event.revision));
  recorded.setCommitPosition(String(event.position));
  recorded.setPreparePosition(String(event.position));
  const map = recorded.getMetadataMap();
  map.set('type', event.type);
  map.set('content-type', event.contentType);
  map.set('created', event.created.toString());
  recorded.setCustomMetadata(event.customMetadata);
  recorded.setData(event.data);
  const read = new ReadResp.ReadEvent();
  read.setEvent(recorded);
  if (withPosition) read.setCommitPosition(String(event.position));
  else read.setNoPosition(new Empty());
  const resp = new ReadResp();
  resp.setEvent(read);
  return resp;
}

/** Writes with back-pressure; resolves false when the call was cancelled or ended. */
function writeAll(call: grpc.ServerWritableStream<ReadReq, ReadResp>, messages: Iterable<ReadResp>, isOpen: () => boolean): Promise<boolean> {
  const iterator = messages[Symbol.iterator]();
  return new Promise((resolve) => {
    const pump = (): void => {
      for (;;) {
        if (!isOpen()) return resolve(false);
        const next = iterator.next();
        if (next.done) return resolve(true);
        if (!call.write(next.value)) {
          call.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

export async function startEsdbTestServer(options: EsdbTestServerOptions = {}): Promise<EsdbTestServer> {
  const log = new InMemoryLog(options.maxAppendSize ?? 1024 * 1024);
  const serverVersion = options.serverVersion ?? '23.10.0';
  const faults: InjectedFault[] = [];
  const delays = new Map<FaultMethod, number>();

  // What a fresh server's log holds before any client writes.
  log.appendRaw('$settings', '$settings', { $userStreamAcl: { $r: '$all', $w: '$all' } });
  log.appendRaw('$stats-127.0.0.1:2113', '$statsCollected', { 'proc-id': 1 });

  /** Throws the injected fault for `method`, if any, after the configured delay. */
  const gate = async (method: FaultMethod): Promise<void> => {
    const ms = delays.get(method) ?? 0;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    const i = faults.findIndex((f) => f.method === method);
    if (i < 0) return;
    const fault = faults[i]!;
    const left = (fault.times ?? 1) - 1;
    if (left > 0) faults[i] = { ...fault, times: left };
    else faults.splice(i, 1);
    throw new ServerError(fault.status, fault.details ?? `injected ${grpc.status[fault.status]}`, fault.metadata ?? {});
  };

  const fail = (error: unknown): grpc.ServerErrorResponse => {
    if (error instanceof ServerError) return Object.assign(new Error(error.message), error.toServiceError());
    const message = error instanceof Error ? error.message : String(error);
    return Object.assign(new Error(message), { code: grpc.status.INTERNAL, details: message });
  };

  const streams: grpc.UntypedServiceImplementation = {
    append(call: grpc.ServerReadableStream<AppendReq, AppendResp>, callback: grpc.sendUnaryData<AppendResp>): void {
      let header: AppendReq.Options | undefined;
      const proposed: Omit<StoredEvent, 'streamId' | 'revision' | 'position' | 'created'>[] = [];
      let failed: unknown;
      call.on('data', (req: AppendReq) => {
        if (failed !== undefined) return;
        try {
          if (req.hasOptions()) {
            if (header !== undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'options sent twice');
            header = req.getOptions()!;
          } else if (req.hasProposedMessage()) {
            if (header === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'options must come first');
            const m = req.getProposedMessage()!;
            const map = m.getMetadataMap();
            const type = map.get('type');
            const contentType = map.get('content-type');
            if (type === undefined || contentType === undefined) {
              throw new ServerError(grpc.status.INVALID_ARGUMENT, 'type and content-type are required', {
                exception: 'missing-required-metadata-property',
                'required-metadata-properties': 'type,content-type',
              });
            }
            proposed.push({
              id: parseUuid(m.getId()),
              type,
              contentType,
              data: m.getData_asU8(),
              customMetadata: m.getCustomMetadata_asU8(),
            });
          }
        } catch (error) {
          failed = error;
        }
      });
      call.on('end', () => {
        void (async () => {
          try {
            await gate('Append');
            if (failed !== undefined) throw failed;
            if (header === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'options are required');
            const streamId = streamName(header.getStreamIdentifier());
            const expected = parseExpected(header);
            const result = log.append(streamId, expected, proposed);
            if (result.kind === 'wrong') {
              callback(null, wrongExpectedVersion(result.current, expected));
              return;
            }
            const success = new AppendResp.Success();
            if (result.revision < 0) success.setNoStream(new Empty());
            else success.setCurrentRevision(String(result.revision));
            if (result.retry && options.positionOnIdempotentRetry === false) {
              success.setNoPosition(new Empty());
            } else {
              const position = new AppendResp.Position();
              position.setCommitPosition(String(result.position));
              position.setPreparePosition(String(result.position));
              success.setPosition(position);
            }
            const resp = new AppendResp();
            resp.setSuccess(success);
            callback(null, resp);
          } catch (error) {
            callback(fail(error));
          }
        })();
      });
    },

    read(call: grpc.ServerWritableStream<ReadReq, ReadResp>): void {
      let open = true;
      const cleanups: (() => void)[] = [];
      const finish = (): void => {
        if (!open) return;
        open = false;
        for (const c of cleanups) c();
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      const isOpen = (): boolean => open && !call.cancelled;
      void (async () => {
        try {
          await gate('Read');
          const options = call.request.getOptions();
          if (options === undefined) throw new ServerError(grpc.status.INVALID_ARGUMENT, 'options are required');
          const structured = options.getUuidOption()?.hasStructured() ?? false;
          const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
          const filter = readFilter(options);
          if (options.hasSubscription()) {
            await subscribe(call, options, structured, filter, isOpen, cleanups);
            return;
          }
          const rawCount = BigInt(options.getCount() || '0');
          const count = rawCount > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(rawCount);
          let selected: StoredEvent[];
          let withPosition: boolean;
          if (options.hasStream()) {
            const so = options.getStream()!;
            const streamId = streamName(so.getStreamIdentifier());
            const events = log.visibleEvents(streamId);
            if (events === undefined) {
              const nf = new ReadResp.StreamNotFound();
              nf.setStreamIdentifier(identifierOf(streamId));
              const resp = new ReadResp();
              resp.setStreamNotFound(nf);
              if (await writeAll(call, [resp], isOpen)) call.end();
              finish();
              return;
            }
            withPosition = false;
            if (backwards) {
              const from = so.hasRevision() ? Number(so.getRevision()) : Number.MAX_SAFE_INTEGER;
              selected = events.filter((e) => e.revision <= from).reverse();
            } else {
              const from = so.hasRevision() ? Number(so.getRevision()) : so.hasEnd() ? Number.MAX_SAFE_INTEGER : 0;
              selected = events.filter((e) => e.revision >= from);
            }
          } else if (options.hasAll()) {
            const ao = options.getAll()!;
            withPosition = true;
            const pos = ao.hasPosition() ? Number(ao.getPosition()!.getCommitPosition()) : undefined;
            if (backwards) {
              const end = pos === undefined ? (ao.hasStart() ? 0 : log.all.length) : lowerBound(log.all, (e) => e.position < pos);
              selected = log.all.slice(0, end).reverse();
            } else {
              const start = pos === undefined ? (ao.hasEnd() ? log.all.length : 0) : lowerBound(log.all, (e) => e.position < pos);
              selected = log.all.slice(start);
            }
          } else {
            throw new ServerError(grpc.status.INVALID_ARGUMENT, 'a stream or $all is required');
          }
          const out: ReadResp[] = [];
          for (const e of selected) {
            if (out.length >= count) break;
            if (passes(filter, e)) out.push(readEvent(e, structured, withPosition));
          }
          if (await writeAll(call, out, isOpen)) call.end();
          finish();
        } catch (error) {
          if (isOpen()) call.emit('error', fail(error));
          finish();
        }
      })();
    },

    delete(call: grpc.ServerUnaryCall<DeleteReq, DeleteResp>, callback: grpc.sendUnaryData<DeleteResp>): void {
      void (async () => {
        try {
          await gate('Delete');
          const o = call.request.getOptions()!;
          const streamId = streamName(o.getStreamIdentifier());
          const expected = parseExpected(o);
          const result = log.deleteStream(streamId, expected, false);
          if (result.kind === 'wrong') throw wrongExpectedVersionError(streamId, result.current, expected);
          const p = new DeleteResp.Position();
          p.setCommitPosition(String(result.position));
          p.setPreparePosition(String(result.position));
          const resp = new DeleteResp();
          resp.setPosition(p);
          callback(null, resp);
        } catch (error) {
          callback(fail(error));
        }
      })();
    },

    tombstone(call: grpc.ServerUnaryCall<TombstoneReq, TombstoneResp>, callback: grpc.sendUnaryData<TombstoneResp>): void {
      void (async () => {
        try {
          await gate('Tombstone');
          const o = call.request.getOptions()!;
          const streamId = streamName(o.getStreamIdentifier());
          const expected = parseExpected(o);
          const result = log.deleteStream(streamId, expected, true);
          if (result.kind === 'wrong') throw wrongExpectedVersionError(streamId, result.current, expected);
          const p = new TombstoneResp.Position();
          p.setCommitPosition(String(result.position));
          p.setPreparePosition(String(result.position));
          const resp = new TombstoneResp();
          resp.setPosition(p);
          callback(null, resp);
        } catch (error) {
          callback(fail(error));
        }
      })();
    },
  };

  /** Catch-up then live, from one cursor over the log, so the switch can neither skip nor repeat. */
  async function subscribe(
    call: grpc.ServerWritableStream<ReadReq, ReadResp>,
    options: ReadReq.Options,
    structured: boolean,
    filter: Filter | undefined,
    isOpen: () => boolean,
    cleanups: (() => void)[],
  ): Promise<void> {
    let streamId: string | undefined;
    let index: number;
    if (options.hasStream()) {
      const so = options.getStream()!;
      streamId = streamName(so.getStreamIdentifier());
      const s = log.streams.get(streamId);
      if (s?.tombstoned) throw streamDeleted(streamId);
      // From a revision: exclusive, as the server's stream subscriptions are.
      const fromRevision = so.hasRevision() ? Number(so.getRevision()) : undefined;
      const events = s?.events ?? [];
      index = so.hasEnd()
        ? log.all.length
        : fromRevision === undefined
          ? 0
          : (() => {
              const after = events[fromRevision + 1];
              return after === undefined ? log.all.length : lowerBound(log.all, (e) => e.position < after.position);
            })();
    } else {
      const ao = options.getAll()!;
      if (ao.hasPosition()) {
        const pos = Number(ao.getPosition()!.getCommitPosition());
        index = lowerBound(log.all, (e) => e.position <= pos); // exclusive of the checkpoint
      } else index = ao.hasEnd() ? log.all.length : 0;
    }
    const confirmation = new ReadResp.SubscriptionConfirmation();
    confirmation.setSubscriptionId(randomUUID());
    const confirm = new ReadResp();
    confirm.setConfirmation(confirmation);
    call.write(confirm);

    let caughtUp = false;
    let scanned = 0;
    let waiting = false;
    const sub: Subscription = {
      pump: () => {
        if (waiting) return;
        while (isOpen()) {
          const e = log.all[index];
          if (e === undefined) break;
          index++;
          let ok = true;
          if ((streamId === undefined || e.streamId === streamId) && passes(filter, e)) {
            ok = call.write(readEvent(e, structured, streamId === undefined));
          }
          if (filter !== undefined && streamId === undefined && ++scanned >= filter.checkpointInterval) {
            scanned = 0;
            const cp = new ReadResp.Checkpoint();
            cp.setCommitPosition(String(e.position));
            cp.setPreparePosition(String(e.position));
            const resp = new ReadResp();
            resp.setCheckpoint(cp);
            ok = call.write(resp) && ok;
          }
          if (!ok) {
            waiting = true;
            call.once('drain', () => {
              waiting = false;
              sub.pump();
            });
            return;
          }
        }
        if (!caughtUp && isOpen() && index >= log.all.length) {
          caughtUp = true;
          const resp = new ReadResp();
          resp.setCaughtUp(new ReadResp.CaughtUp());
          call.write(resp);
        }
      },
    };
    log.subscriptions.add(sub);
    cleanups.push(() => log.subscriptions.delete(sub));
    sub.pump();
  }

  const features: grpc.UntypedServiceImplementation = {
    getSupportedMethods(_call: grpc.ServerUnaryCall<Empty, SupportedMethods>, callback: grpc.sendUnaryData<SupportedMethods>): void {
      void (async () => {
        try {
          await gate('GetSupportedMethods');
          const methods = [
            ['event_store.client.streams.streams', 'read', []],
            ['event_store.client.streams.streams', 'append', []],
            ['event_store.client.streams.streams', 'delete', []],
            ['event_store.client.streams.streams', 'tombstone', []],
            ['event_store.client.server_features.serverfeatures', 'getsupportedmethods', []],
          ] as const;
          const resp = new SupportedMethods();
          resp.setEventStoreServerVersion(serverVersion);
          resp.setMethodsList(
            methods.map(([service, method, feats]) => {
              const m = new SupportedMethod();
              m.setServiceName(service);
              m.setMethodName(method);
              m.setFeaturesList([...feats]);
              return m;
            }),
          );
          callback(null, resp);
        } catch (error) {
          callback(fail(error));
        }
      })();
    },
  };

  let server: grpc.Server | undefined;
  let port = 0;
  const bind = async (): Promise<void> => {
    const s = new grpc.Server({ 'grpc.max_receive_message_length': 32 * 1024 * 1024 });
    s.addService(StreamsService as unknown as grpc.ServiceDefinition, streams);
    s.addService(ServerFeaturesService as unknown as grpc.ServiceDefinition, features);
    port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    // As a crashed server: connections are dropped, open calls cut.
    s.forceShutdown();
    log.subscriptions.clear();
  };
  await bind();

  return {
    get connectionString() {
      return `esdb://127.0.0.1:${port}?tls=false`;
    },
    get port() {
      return port;
    },
    stop,
    restart: async () => {
      await stop();
      await bind();
    },
    injectFault: (fault) => {
      faults.push(fault);
    },
    delay: (method, ms) => {
      if (ms > 0) delays.set(method, ms);
      else delays.delete(method);
    },
    appendRaw: (streamId, type, data) => log.appendRaw(streamId, type, data),
    openSubscriptions: () => log.subscriptions.size,
  };
}
