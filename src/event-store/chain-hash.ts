import * as crypto from 'node:crypto';
import { canonicalJson } from '../common/canonical-json';
import type { JsonObject, RecordedEvent, StoredEvent } from './event-store';
import { isStringifyForm } from './stringify-form';

/**
 * The tamper-evident log. Every event appended through `HashChainedEventStore` (hash-chain.ts) carries, in its
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
