import type { EventStore, JsonObject, StoredEvent } from '../event-store/event-store';
import {
  EMPTY_LOG_DIGEST,
  eventHash,
  HASH_FIELD,
  HashedContent,
  LOG_DIGEST_ALGORITHM,
  nextLogDigest,
  PREV_HASH_FIELD,
  provenChainFields,
  stillHashesTo,
} from '../event-store/hash-chain';

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

export type BrokenLinkProblem =
  /** The event's content no longer gives its recorded hash: it was edited. */
  | 'altered'
  /** Its `prevHash` is not the hash of the stream's previous event: that one was edited or replaced. */
  | 'unlinked'
  /** A revision of the stream is missing: an event was deleted. */
  | 'missing'
  /** An event without chain fields after chained ones, in its stream or in the log: its fields were stripped. */
  | 'unchained_after_chained'
  /** The log up to the saved digest's position no longer gives the saved hash. */
  | 'digest_mismatch';

export interface BrokenLink {
  readonly problem: BrokenLinkProblem;
  readonly streamId: string | null;
  readonly revision: number | null;
  readonly position: number | null;
  readonly message: string;
}

export interface LogVerification {
  /** Events checked (up to the first broken link, or all). */
  readonly events: number;
  readonly chained: number;
  /** Written before the chain existed: linked from the first chained event, not failures. */
  readonly unchained: number;
  /**
   * Checked by decoding their data and metadata, because their stored text alone could not prove
   * them (unchained events, keys out of canonical order, escapes other than the short ones, an object
   * before `prevHash`); the others were proven from the text as stored.
   */
  readonly decoded: number;
  readonly broken: BrokenLink | null;
  /** The digest of everything checked. */
  readonly digest: LogDigest;
  /** Whether the saved digest (when one was given) matched. */
  readonly digestChecked: boolean;
}

export interface VerifyOptions {
  /** An earlier digest: the log up to its position must still give its hash. */
  readonly digest?: Pick<LogDigest, 'position' | 'hash'>;
  readonly pageSize?: number;
  readonly onProgress?: (events: number, position: number) => void;
  /** Check every event by decoding it, never from its stored text alone: the reference, slower. */
  readonly decodeAll?: boolean;
}

/** The per-stream state of the walk: the last revision seen and the hash the next event must link to. */
interface StreamLink {
  revision: number;
  hash: string;
  chained: boolean;
}

// Pages of 1,000: larger ones keep more of the read text alive across young-generation collections, which costs more than the extra reads.
const PAGE = 1_000;

/**
 * What one event's own content shows, before its links are checked: the hash it commits to and the
 * `prevHash` it claims, or why its content fails. Needs nothing but the event.
 */
interface EventProof {
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  /** Its recorded hash (chained), or the hash its content gives (unchained). */
  readonly hash: string;
  /** The `prevHash` it records (chained events only). */
  readonly prevHash: unknown;
  readonly chained: boolean;
  /** Decoded to be checked: its stored text alone did not prove it. */
  readonly decoded: boolean;
  /** Set when its stored content does not give its recorded hash, or is not JSON. */
  readonly altered?: string;
}

/** The proof of one stored event (pure). Most events prove their hash from the stored text alone; the others are decoded. */
function proveEvent(event: StoredEvent, decodeAll = false): EventProof {
  const { streamId, revision, position } = event;
  const proven = decodeAll ? undefined : provenChainFields(event);
  if (proven !== undefined) return { streamId, revision, position, hash: proven.hash, prevHash: proven.prevHash, chained: true, decoded: false };
  let decoded: HashedContent;
  try {
    decoded = { streamId, revision, type: event.type, data: JSON.parse(event.data) as JsonObject, metadata: JSON.parse(event.metadata) as JsonObject };
  } catch {
    return { streamId, revision, position, hash: '', prevHash: null, chained: false, decoded: true, altered: 'its stored data or metadata is not JSON' };
  }
  if (!isObject(decoded.data) || !isObject(decoded.metadata)) {
    return { streamId, revision, position, hash: '', prevHash: null, chained: false, decoded: true, altered: 'its stored data or metadata is not a JSON object' };
  }
  const metadata = decoded.metadata;
  const recorded = metadata[HASH_FIELD];
  if (typeof recorded !== 'string') {
    return { streamId, revision, position, hash: eventHash(streamId, revision, event.type, decoded.data, metadata), prevHash: null, chained: false, decoded: true };
  }
  const proof = { streamId, revision, position, hash: recorded, prevHash: metadata[PREV_HASH_FIELD] ?? null, chained: true, decoded: true };
  return stillHashesTo(decoded, recorded) ? proof : { ...proof, altered: 'its content does not give its recorded hash' };
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a proven event against its stream's previous one: the broken link, or undefined when it holds. */
function brokenLink(proof: EventProof, before: StreamLink | undefined, chainedBefore: boolean): BrokenLink | undefined {
  const at = { streamId: proof.streamId, revision: proof.revision, position: proof.position };
  const name = `${proof.streamId}@${proof.revision}`;
  const expectedRevision = before === undefined ? 0 : before.revision + 1;
  if (proof.revision !== expectedRevision) {
    return {
      problem: 'missing',
      ...at,
      revision: expectedRevision,
      message: `${proof.streamId}: revision ${expectedRevision} is missing (the stream goes on at revision ${proof.revision}, position ${proof.position})`,
    };
  }
  if (proof.altered !== undefined) return { problem: 'altered', ...at, message: `${name}: ${proof.altered} (altered after it was written)` };
  if (!proof.chained) {
    // Events without chain fields are the ones written before the chain existed: none comes after a
    // chained one, in its stream or anywhere in the log. One that does had its fields stripped.
    if (before?.chained === true) {
      return { problem: 'unchained_after_chained', ...at, message: `${name}: has no chain fields, although the events before it in its stream do` };
    }
    if (chainedBefore) {
      return { problem: 'unchained_after_chained', ...at, message: `${name}: has no chain fields, although events before it in the log do (written after the chain existed, its fields were stripped)` };
    }
    return undefined;
  }
  if (proof.prevHash !== (before === undefined ? null : before.hash)) {
    return {
      problem: 'unlinked',
      ...at,
      message: `${name}: prevHash does not match the hash of ${proof.revision === 0 ? 'the start of the stream' : `revision ${proof.revision - 1}`}`,
    };
  }
  return undefined;
}

/**
 * Walks the whole log in global order and checks every link of every stream's chain, and the
 * store-wide digest against a saved one. Stops at the first broken link. The log is read as stored
 * (`readAllStored`): each event's own hash is proven as its page is read, then its links.
 */
export async function verifyLog(store: EventStore, options: VerifyOptions = {}): Promise<LogVerification> {
  const streams = new Map<string, StreamLink>();
  const saved = options.digest;
  let digest = EMPTY_LOG_DIGEST;
  let events = 0;
  let chained = 0;
  let unchained = 0;
  let decoded = 0;
  let position = 0;
  let digestChecked = false;
  const result = (broken: BrokenLink | null): LogVerification => ({
    events,
    chained,
    unchained,
    decoded,
    broken,
    digest: { position, hash: digest, events, algorithm: LOG_DIGEST_ALGORITHM },
    digestChecked,
  });
  const digestMismatch = (at: EventProof | undefined): BrokenLink => ({
    problem: 'digest_mismatch',
    streamId: at?.streamId ?? null,
    revision: at?.revision ?? null,
    position: saved!.position,
    message:
      at === undefined
        ? `the log ends at position ${position}, before the saved digest's position ${saved!.position}: events were deleted`
        : `the log up to position ${saved!.position} no longer gives the saved digest: an event up to it was altered or deleted`,
  });
  if (saved !== undefined && saved.position === 0) {
    digestChecked = true;
    if (saved.hash !== EMPTY_LOG_DIGEST) return result(digestMismatch(undefined));
  }
  const pageSize = options.pageSize ?? PAGE;
  for (let from = 1; ; ) {
    const page = await store.readAllStored(from, pageSize);
    for (const event of page) {
      const proof = proveEvent(event, options.decodeAll);
      // Past the saved position without an event exactly at it: the event there is gone.
      if (saved !== undefined && !digestChecked && proof.position > saved.position) return result(digestMismatch(proof));
      const before = streams.get(proof.streamId);
      const broken = brokenLink(proof, before, chained > 0);
      if (broken !== undefined) return result(broken);
      if (before === undefined) streams.set(proof.streamId, { revision: proof.revision, hash: proof.hash, chained: proof.chained });
      else {
        before.revision = proof.revision;
        before.hash = proof.hash;
        before.chained = proof.chained;
      }
      if (proof.decoded) decoded += 1;
      if (proof.chained) chained += 1;
      else unchained += 1;
      events += 1;
      position = proof.position;
      digest = nextLogDigest(digest, proof.hash);
      if (saved !== undefined && position === saved.position) {
        digestChecked = true;
        if (digest !== saved.hash) return result(digestMismatch(proof));
      }
    }
    if (page.length > 0) options.onProgress?.(events, position);
    if (page.length < pageSize) break;
    from = page[page.length - 1]!.position + 1;
  }
  if (saved !== undefined && !digestChecked) return result(digestMismatch(undefined));
  return result(null);
}

/**
 * A saved digest as the auditor kept it: `<position>:<hash>`, or the JSON that `GET /api/audit/digest`
 * and `topo audit digest --json` print. Undefined when the text is neither.
 */
export function parseSavedDigest(text: string): Pick<LogDigest, 'position' | 'hash'> | undefined {
  const trimmed = text.trim();
  const compact = /^(\d{1,16}):([0-9a-f]{64})$/i.exec(trimmed);
  if (compact) return { position: Number(compact[1]), hash: compact[2]!.toLowerCase() };
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(trimmed) as { position?: unknown; hash?: unknown };
    if (typeof value.position === 'number' && Number.isSafeInteger(value.position) && value.position >= 0 && typeof value.hash === 'string' && /^[0-9a-f]{64}$/i.test(value.hash)) {
      return { position: value.position, hash: value.hash.toLowerCase() };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** `<position>:<hash>`: the compact form of a digest, for `--digest`. */
export function formatDigest(digest: Pick<LogDigest, 'position' | 'hash'>): string {
  return `${digest.position}:${digest.hash}`;
}
