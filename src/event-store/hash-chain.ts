import * as crypto from 'node:crypto';
import type { Observable } from 'rxjs';
import { canonicalCopy, canonicalJson } from '../common/canonical-json';
import { KeyedLock } from '../common/keyed-lock';
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
 * The tamper-evident log. Every event appended through {@link HashChainedEventStore} carries, in its
 * metadata, `prevHash` (the hash of the previous event of its stream, null at revision 0) and `hash`:
 * the SHA-256 of the canonical JSON of `{ stream, revision, type, data, metadata }`, the metadata
 * taken without `hash` (so `prevHash` is covered, which is what links each event to the one before).
 * Canonical JSON sorts object keys, so the hash is the same whichever store kept the bytes.
 */

export const HASH_ALGORITHM = 'sha256';
export const PREV_HASH_FIELD = 'prevHash';
export const HASH_FIELD = 'hash';

/** SHA-256 of a text, as lower-case hex; one-shot `crypto.hash` (Node 20.12+) is about twice as fast as a Hash object for short texts. */
function sha256Hex(text: string): string {
  return typeof crypto.hash === 'function' ? crypto.hash(HASH_ALGORITHM, text, 'hex') : crypto.createHash(HASH_ALGORITHM).update(text).digest('hex');
}

/** What an event's hash covers; also used for events written before the chain (`unchained`), so later links can name them. */
export function eventHash(streamId: string, revision: number, type: string, data: JsonObject, metadata: JsonObject): string {
  let covered: JsonObject = metadata;
  if (Object.prototype.hasOwnProperty.call(metadata, HASH_FIELD)) {
    const { [HASH_FIELD]: _ignored, ...rest } = metadata;
    covered = rest;
  }
  // Keys in canonical order already, so that canonicalJson takes its fast path.
  return sha256Hex(canonicalJson({ data, metadata: covered, revision, stream: streamId, type }));
}

/**
 * Whether a stored chained event still gives its recorded hash. The encoding in the stored key order
 * is tried first: the chain stores events in canonical order, so that text is the one that was hashed,
 * and when it gives the recorded hash the content is exactly what was hashed (JSON text determines
 * its value). Otherwise the canonical encoding decides, whatever the stored order.
 */
export function stillHashesTo(event: HashedContent, recorded: string): boolean {
  const { [HASH_FIELD]: _recorded, ...covered } = event.metadata;
  const stored = JSON.stringify({ data: event.data, metadata: covered, revision: event.revision, stream: event.streamId, type: event.type });
  if (sha256Hex(stored) === recorded) return true;
  return eventHash(event.streamId, event.revision, event.type, event.data, covered) === recorded;
}

/** What a stored event's own check needs from it. */
export type HashedContent = Pick<RecordedEvent, 'streamId' | 'revision' | 'type' | 'data' | 'metadata'>;

const HASH_SUFFIX_START = `,"${HASH_FIELD}":"`;
/** `,"hash":"<64 hex>"}`: how the chain's metadata text ends, its hash added last to the canonical rest. */
const HASH_SUFFIX_LENGTH = HASH_SUFFIX_START.length + 64 + 2;
const PREV_HASH_KEY = `"${PREV_HASH_FIELD}":`;

/**
 * The chain fields of a stored event, read from its stored text, when that text itself proves them:
 * undefined when it cannot (then decode it and use {@link stillHashesTo}, the reference).
 *
 * The chain writes the metadata in canonical key order with `hash` added last, so its stored text is
 * the hashed metadata text with `,"hash":"<hex>"` before the closing brace. The hashed encoding is
 * therefore `{"data":<data text>,"metadata":<metadata text without that member>,"revision":<n>,
 * "stream":<json>,"type":<json>}`, built here by concatenation, with no decoding. When it hashes to
 * the recorded hash, and the data text and the metadata text are each one JSON value exactly as
 * `JSON.stringify` writes back what `JSON.parse` reads from it (checked in one pass, see
 * {@link isStringifyForm}), decoding would build this same text first and reach the same verdict: the
 * answer is the decoding path's, without its cost. Anything else (unchained events, keys out of
 * order, escapes other than the short ones, a text that is not JSON) is left to decoding.
 *
 * `prevHash` is then read from the proven text: the `"prevHash":` after `{` or `,` (so not inside a
 * string, where every quote is escaped) with no `{` before it but the first character (so a key of
 * the top-level object). Canonical order puts it after the scalar fields of the product's metadata
 * and before `warnings`, whose objects come later.
 */
export function provenChainFields(stored: StoredEvent): { hash: string; prevHash: string | null } | undefined {
  const { data, metadata } = stored;
  const end = metadata.length;
  if (end < HASH_SUFFIX_LENGTH + 2 || metadata.charCodeAt(end - 1) !== 0x7d || metadata.charCodeAt(end - 2) !== 0x22) return undefined;
  if (!metadata.startsWith(HASH_SUFFIX_START, end - HASH_SUFFIX_LENGTH)) return undefined;
  // Not checked for hex: a hash that is not one never equals the SHA-256 below.
  const hash = metadata.slice(end - 66, end - 2);
  const covered = metadata.slice(0, end - HASH_SUFFIX_LENGTH);
  const text = `{"data":${data},"metadata":${covered}},"revision":${stored.revision},"stream":${JSON.stringify(stored.streamId)},"type":${JSON.stringify(stored.type)}}`;
  if (sha256Hex(text) !== hash) return undefined;
  const metadataStart = 8 + data.length + 12;
  if (!isStringifyForm(text, 8, 8 + data.length) || !isStringifyForm(text, metadataStart, metadataStart + covered.length + 1)) return undefined;
  // One `hash` member only: the one the chain added last.
  if (covered.includes(`"${HASH_FIELD}":`)) return undefined;
  let at = covered.indexOf(PREV_HASH_KEY);
  if (at < 1 || (covered.charCodeAt(at - 1) !== 0x2c && at !== 1)) return undefined;
  if (covered.lastIndexOf('{', at) !== 0) return undefined;
  at += PREV_HASH_KEY.length;
  if (covered.startsWith('null', at) && (at + 4 === covered.length || covered.charCodeAt(at + 4) === 0x2c)) return { hash, prevHash: null };
  const after = at + 66;
  if (covered.charCodeAt(at) !== 0x22 || covered.charCodeAt(after - 1) !== 0x22 || (after !== covered.length && covered.charCodeAt(after) !== 0x2c)) return undefined;
  // Not checked for hex either: a prevHash that is not one never equals the hash of the event before.
  return { hash, prevHash: covered.slice(at + 1, after - 1) };
}

// ---------------------------------------------------------------------------------------------
// One pass over JSON text: is it what JSON.stringify(JSON.parse(text)) gives back?

let src = '';
let at = 0;
let escaped = false;

/**
 * Whether `text[from, to)` is one JSON value exactly as `JSON.stringify` writes back what `JSON.parse`
 * reads from it: no whitespace; strings with no escapes but `\" \\ \b \f \n \r \t` and no lone
 * surrogate; numbers as `String(Number(n))` writes them; objects whose keys strictly increase (so
 * none repeats), none starting with a digit (JavaScript would move an index-like key first) and none
 * with an escape. Conservative: it may refuse what JSON.stringify could write (those events are
 * decoded), never the reverse.
 */
export function isStringifyForm(text: string, from: number, to: number): boolean {
  src = text;
  at = from;
  SPECIAL.lastIndex = from;
  const special = SPECIAL.exec(text);
  plain = special === null || special.index >= to;
  nextBackslash = text.indexOf('\\', from);
  const ok = value(to) && at === to;
  src = '';
  return ok;
}

function value(to: number): boolean {
  if (at >= to) return false;
  const c = src.charCodeAt(at);
  if (c === 0x22) return string(to) >= 0;
  if (c === 0x7b) return object(to);
  if (c === 0x5b) return array(to);
  if (c === 0x74) return word('true', to);
  if (c === 0x66) return word('false', to);
  if (c === 0x6e) return word('null', to);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return number(to);
  return false;
}

function word(w: string, to: number): boolean {
  if (at + w.length > to || !src.startsWith(w, at)) return false;
  at += w.length;
  return true;
}

function number(to: number): boolean {
  const start = at;
  while (at < to) {
    const c = src.charCodeAt(at);
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65) at++;
    else break;
  }
  const token = src.slice(start, at);
  return String(Number(token)) === token;
}

/** Characters a string may not hold as they are (controls) or only in pairs (surrogates). */
const SPECIAL = /[\u0000-\u001f\ud800-\udfff]/g;
/** The region has none of them: strings there are checked for quotes and backslashes only. */
let plain = false;
/** The next backslash at or after the last string's start (-1: none left), so each is searched once. */
let nextBackslash = -1;

/** `\" \\ \b \f \n \r \t`: the escapes JSON.stringify writes by their short form. */
function isShortEscape(c: number): boolean {
  return c === 0x22 || c === 0x5c || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74;
}

/** Past the closing quote; the index of the first character inside, or -1. Sets `escaped`. */
function string(to: number): number {
  const start = ++at;
  escaped = false;
  if (plain) {
    for (;;) {
      const quote = src.indexOf('"', at);
      if (quote < 0 || quote >= to) return -1;
      if (nextBackslash !== -1 && nextBackslash < at) nextBackslash = src.indexOf('\\', at);
      if (nextBackslash === -1 || nextBackslash > quote) {
        at = quote + 1;
        return start;
      }
      const e = src.charCodeAt(nextBackslash + 1);
      if (!isShortEscape(e)) return -1;
      escaped = true;
      at = nextBackslash + 2;
    }
  }
  while (at < to) {
    const c = src.charCodeAt(at);
    if (c === 0x22) {
      at++;
      return start;
    }
    if (c === 0x5c) {
      const e = src.charCodeAt(at + 1);
      if (!isShortEscape(e)) return -1;
      escaped = true;
      at += 2;
    } else if (c < 0x20) {
      return -1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const low = src.charCodeAt(at + 1);
      if (c > 0xdbff || !(low >= 0xdc00 && low <= 0xdfff)) return -1;
      at += 2;
    } else {
      at++;
    }
  }
  return -1;
}

function object(to: number): boolean {
  at++;
  if (at >= to) return false;
  if (src.charCodeAt(at) === 0x7d) {
    at++;
    return true;
  }
  let previousStart = -1;
  let previousEnd = -1;
  for (;;) {
    if (src.charCodeAt(at) !== 0x22) return false;
    const start = string(to);
    if (start < 0 || escaped) return false;
    const end = at - 1;
    const first = src.charCodeAt(start);
    if ((first >= 0x30 && first <= 0x39) || (previousStart >= 0 && !keyBefore(previousStart, previousEnd, start, end))) return false;
    previousStart = start;
    previousEnd = end;
    if (src.charCodeAt(at) !== 0x3a) return false;
    at++;
    if (!value(to) || at >= to) return false;
    const c = src.charCodeAt(at);
    at++;
    if (c === 0x7d) return true;
    if (c !== 0x2c) return false;
  }
}

/** Whether the key at `[a, aEnd)` sorts strictly before the key at `[b, bEnd)`, by UTF-16 code units as `<` compares. */
function keyBefore(a: number, aEnd: number, b: number, bEnd: number): boolean {
  for (; a < aEnd && b < bEnd; a++, b++) {
    const x = src.charCodeAt(a);
    const y = src.charCodeAt(b);
    if (x !== y) return x < y;
  }
  return a === aEnd && b < bEnd;
}

function array(to: number): boolean {
  at++;
  if (at >= to) return false;
  if (src.charCodeAt(at) === 0x5d) {
    at++;
    return true;
  }
  for (;;) {
    if (!value(to) || at >= to) return false;
    const c = src.charCodeAt(at);
    at++;
    if (c === 0x5d) return true;
    if (c !== 0x2c) return false;
  }
}

/** The hash a stored event commits to: its recorded `hash`, or for an unchained event the hash it would have. */
export function hashOfRecorded(event: RecordedEvent): string {
  const recorded = event.metadata[HASH_FIELD];
  return typeof recorded === 'string' ? recorded : eventHash(event.streamId, event.revision, event.type, event.data, event.metadata);
}

/**
 * The store-wide digest: a running chain over the global log, in position order,
 * `digest(n) = SHA-256(digest(n-1) + hash(n))` over hex text, starting from 64 zeros. The digest at a
 * position commits to every event up to it, in its order, in every stream.
 */
export const LOG_DIGEST_ALGORITHM = 'sha256-chain-v1';
export const EMPTY_LOG_DIGEST = '0'.repeat(64);

export function nextLogDigest(previous: string, eventHash: string): string {
  return sha256Hex(previous + eventHash);
}

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
  }

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

/** The store-wide digest at a log position: what `GET /api/audit/digest` answers and an auditor keeps. */
export interface LogDigest {
  /** Global position of the last event covered (0: the empty log). */
  readonly position: number;
  /** The running chain over every event up to `position` (see `LOG_DIGEST_ALGORITHM`). */
  readonly hash: string;
  /** How many events it covers. */
  readonly events: number;
  readonly algorithm: string;
}
