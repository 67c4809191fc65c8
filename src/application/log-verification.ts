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
} from '../event-store/chain-hash';
import { changedFields } from '../event-store/field-evidence';

import type { LogDigest } from '../event-store/chain-hash';
export type { LogDigest };

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
  | 'digest_mismatch'
  /**
   * The log up to a signed checkpoint's position no longer gives the digest the checkpoint signed:
   * an event up to it was edited (even with its hash and the links after it recomputed), deleted,
   * reordered or replaced, or the whole log was rewritten.
   */
  | 'checkpoint_mismatch'
  /** The log ends before a signed checkpoint's position: its tail was cut off. */
  | 'truncated'
  /** A line of the witness is not a checkpoint signed by the trusted key (forged, edited, another key's). */
  | 'checkpoint_invalid'
  /** The read models serve a digest that a signed checkpoint contradicts. */
  | 'read_model_mismatch';

/** One field of an event that differs from the copy the read models kept of it. */
export interface FieldChange {
  /** `data.<name>`, `metadata.<name>`, `type`, `stream` or `revision`. */
  readonly field: string;
  /** As the read models kept it (undefined: absent). */
  readonly before: unknown;
  /** As the log holds it now (undefined: absent). */
  readonly after: unknown;
}

/** A field change's `before` when the read models kept only the field's evidence, not its value. */
export const NOT_KEPT = '(changed; its value before is not kept)';

export interface BrokenLink {
  readonly problem: BrokenLinkProblem;
  readonly streamId: string | null;
  readonly revision: number | null;
  readonly position: number | null;
  /** The event's type, where the break names one event. */
  readonly eventType?: string | null;
  /** Which fields differ from the copy the read models kept, where there is one to compare with. */
  readonly changes?: readonly FieldChange[];
  /** The signed checkpoint the break was found against, for checkpoint breaks. */
  readonly checkpoint?: { readonly position: number; readonly digest: string; readonly time?: string };
  /** For a cut tail: the events the signed checkpoint vouched for that the log no longer has. */
  readonly missing?: MissingEvents;
  readonly message: string;
}

/** The events after the log's end up to a signed checkpoint's position. */
export interface MissingEvents {
  /** The position of the log's last event (0: none is left). */
  readonly afterPosition: number;
  /** The checkpoint's position: the last event it vouched for. */
  readonly throughPosition: number;
  /**
   * How many: from the positions in the SQLite log (they follow one another), else from the read
   * models' copy; null when neither can tell (EventStoreDB's positions are byte offsets).
   */
  readonly events: number | null;
  /** Those the read models kept a copy of (at most {@link MAX_NAMED_MISSING}): empty without them. */
  readonly named: readonly { readonly position: number; readonly streamId: string; readonly revision: number; readonly type: string }[];
  /** What vouched for them: a signed checkpoint (absent), or an earlier verification of this process (`verified`). */
  readonly vouchedBy?: 'verified';
}

/** How many missing events a break names one by one; the count covers them all. */
export const MAX_NAMED_MISSING = 1_000;
/** How many of them its message lists. */
const LISTED_MISSING = 10;

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
  /** The first break, or null. */
  readonly broken: BrokenLink | null;
  /** Every break found: the first only, unless `all` was asked for. */
  readonly breaks: readonly BrokenLink[];
  /** The digest of everything checked. */
  readonly digest: LogDigest;
  /** Whether the saved digest (when one was given) matched. */
  readonly digestChecked: boolean;
  /** Signed checkpoints the log was checked against, and the latest of them. */
  readonly checkpoints: { readonly checked: number; readonly latest: { readonly position: number; readonly digest: string; readonly time?: string } | null };
  /** Events after the latest checkpoint given (not yet signed when the witness was read). */
  readonly unsigned: number;
}

/** A digest the log must give at a position: a signed checkpoint as read from a witness. */
export interface TrustedCheckpoint {
  readonly position: number;
  readonly digest: string;
  readonly time?: string;
}

/**
 * What the read models kept of the log, to tell which event a checkpoint break is about and which
 * of its fields changed. Not trusted (they lie in DATA_DIR too): used only to name what changed
 * after the signed checkpoints have shown that something did.
 */
export interface LogReference {
  /** The digest the read models hold after the event at `position`; undefined when they hold none there. */
  digestAt(position: number): string | undefined;
  /** The event the read models kept at `position`. */
  eventAt(position: number):
    | { readonly streamId: string; readonly revision: number; readonly type: string; readonly data?: unknown; readonly metadata?: unknown; readonly fields?: string }
    | undefined;
  /** The position of the first event the read models kept after `position` (undefined: none). */
  positionAfter(position: number): number | undefined;
}

export interface VerifyOptions {
  /** An earlier digest: the log up to its position must still give its hash. */
  readonly digest?: Pick<LogDigest, 'position' | 'hash'>;
  /** Signed checkpoints (by position, verified already): the log must give each one's digest at its position. */
  readonly checkpoints?: readonly TrustedCheckpoint[];
  /** Lines of the witness that were rejected: each is a break. */
  readonly rejectedCheckpoints?: readonly { readonly line: number; readonly problem: string }[];
  /** Names the event and fields behind a checkpoint break; also checked against each checkpoint when `checkReference`. */
  readonly reference?: LogReference;
  /** The read models' digest at every checkpoint must be the checkpoint's (the server's own check). */
  readonly checkReference?: boolean;
  /** Report every break, not only the first. */
  readonly all?: boolean;
  readonly pageSize?: number;
  readonly onProgress?: (events: number, position: number) => void;
  /** Called between pages: a background verification yields to other work there. */
  readonly betweenPages?: () => Promise<void>;
  /** Check every event by decoding it, never from its stored text alone: the reference, slower. */
  readonly decodeAll?: boolean;
  /**
   * Go on from an earlier verification's end instead of the log's start: only the events after it are
   * read and checked (with the checkpoints past it), and the event it ended at must still be there and
   * give the same hash. Edits before it are not looked for: that is the full verification's job.
   */
  readonly resume?: VerifiedPrefix;
  /** Called, when no break was found, with where the walk ended: what `resume` takes next time. */
  readonly onVerified?: (prefix: VerifiedPrefix) => void;
}

/** The state of the walk at the end of a verified prefix of the log, to go on from it. */
export interface VerifiedPrefix {
  readonly position: number;
  readonly digest: string;
  /** The hash of the event at `position` (empty when the log was empty). */
  readonly lastHash: string;
  readonly events: number;
  readonly chained: number;
  readonly unchained: number;
  readonly decoded: number;
  readonly streams: ReadonlyMap<string, Readonly<StreamLink>>;
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
  readonly type: string;
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
  const { streamId, revision, position, type } = event;
  const proven = decodeAll ? undefined : provenChainFields(event);
  if (proven !== undefined) return { streamId, revision, position, type, hash: proven.hash, prevHash: proven.prevHash, chained: true, decoded: false };
  let decoded: HashedContent;
  try {
    decoded = { streamId, revision, type, data: JSON.parse(event.data) as JsonObject, metadata: JSON.parse(event.metadata) as JsonObject };
  } catch {
    return { streamId, revision, position, type, hash: '', prevHash: null, chained: false, decoded: true, altered: 'its stored data or metadata is not JSON' };
  }
  if (!isObject(decoded.data) || !isObject(decoded.metadata)) {
    return { streamId, revision, position, type, hash: '', prevHash: null, chained: false, decoded: true, altered: 'its stored data or metadata is not a JSON object' };
  }
  const metadata = decoded.metadata;
  const recorded = metadata[HASH_FIELD];
  if (typeof recorded !== 'string') {
    return { streamId, revision, position, type, hash: eventHash(streamId, revision, type, decoded.data, metadata), prevHash: null, chained: false, decoded: true };
  }
  const proof = { streamId, revision, position, type, hash: recorded, prevHash: metadata[PREV_HASH_FIELD] ?? null, chained: true, decoded: true };
  return stillHashesTo(decoded, recorded) ? proof : { ...proof, altered: 'its content does not give its recorded hash' };
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a proven event against its stream's previous one: the broken link, or undefined when it holds. */
function brokenLink(proof: EventProof, before: StreamLink | undefined, chainedBefore: boolean): BrokenLink | undefined {
  const at = { streamId: proof.streamId, revision: proof.revision, position: proof.position, eventType: proof.type };
  const name = `${proof.streamId}@${proof.revision}`;
  const expectedRevision = before === undefined ? 0 : before.revision + 1;
  if (proof.revision !== expectedRevision) {
    return {
      problem: 'missing',
      ...at,
      revision: expectedRevision,
      eventType: null,
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

/** The log's digest after the event at `position`. */
interface Sample {
  readonly position: number;
  readonly digest: string;
}

/** Digests kept while walking: one every this many events. */
const SAMPLE = 512;

/** The fields of `after` (the log now) that differ from `before` (the read models' copy), flattened to dotted paths two levels deep. */
export function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>): FieldChange[] {
  const changes: FieldChange[] = [];
  const walk = (prefix: string, b: unknown, a: unknown, depth: number): void => {
    if (depth < 3 && isObject(b) && isObject(a)) {
      const keys = [...new Set([...Object.keys(b as object), ...Object.keys(a as object)])].sort();
      for (const key of keys) walk(`${prefix}.${key}`, (b as Record<string, unknown>)[key], (a as Record<string, unknown>)[key], depth + 1);
      return;
    }
    if (JSON.stringify(b) !== JSON.stringify(a)) changes.push({ field: prefix.slice(1), before: b, after: a });
  };
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])]) walk(`.${key}`, before[key], after[key], 1);
  return changes;
}

/**
 * Walks the whole log in global order and checks every link of every stream's chain, the store-wide
 * digest against a saved one, and against every signed checkpoint given. Stops at the first break
 * unless `all` is asked for. The log is read as stored (`readAllStored`): each event's own hash is
 * proven as its page is read, then its links.
 */
export async function verifyLog(store: EventStore, options: VerifyOptions = {}): Promise<LogVerification> {
  const resume = options.resume;
  // Copied: a walk that breaks leaves the prefix it went on from as it was.
  const streams = new Map<string, StreamLink>([...(resume?.streams ?? [])].map(([id, link]) => [id, { ...link }]));
  const saved = resume === undefined ? options.digest : undefined;
  const checkpoints = (options.checkpoints ?? []).filter((c) => resume === undefined || c.position > resume.position);
  const reference = options.reference;
  const breaks: BrokenLink[] = [];
  let digest = resume?.digest ?? EMPTY_LOG_DIGEST;
  let events = resume?.events ?? 0;
  let chained = resume?.chained ?? 0;
  let unchained = resume?.unchained ?? 0;
  let decoded = resume?.decoded ?? 0;
  let position = resume?.position ?? 0;
  let lastHash = resume?.lastHash ?? '';
  let digestChecked = false;
  let nextCheckpoint = 0;
  let checkedCheckpoints = 0;
  /**
   * Every SAMPLE-th digest since the last checkpoint that held (from its own), kept when there are
   * checkpoints and read models to compare with: a break is then looked for from the last sample the
   * read models agree with, without keeping every event walked.
   */
  let samples: Sample[] = [{ position, digest }];
  let sinceSample = 0;
  const toLocate = new Map<BrokenLink, { samples: Sample[]; to: number }>();
  let lastGoodPosition = position;
  const latest = checkpoints.length > 0 ? checkpoints[checkpoints.length - 1]! : null;
  const result = (): LogVerification => ({
    events,
    chained,
    unchained,
    decoded,
    broken: breaks[0] ?? null,
    breaks,
    digest: { position, hash: digest, events, algorithm: LOG_DIGEST_ALGORITHM },
    digestChecked,
    checkpoints: { checked: checkedCheckpoints, latest: latest === null ? null : { position: latest.position, digest: latest.digest, ...(latest.time ? { time: latest.time } : {}) } },
    unsigned: latest === null ? 0 : Math.max(0, events - eventsAtLatest),
  });
  let eventsAtLatest = 0;
  /** The result, the breaks that name one event given the fields that differ from the read models' copy of it. */
  const finish = async (): Promise<LogVerification> => {
    if (reference !== undefined) {
      for (let i = 0; i < breaks.length; i++) {
        breaks[i] = namedMissing(breaks[i]!, reference);
        const range = toLocate.get(breaks[i]!);
        if (range !== undefined) breaks[i] = (await locate(store, reference, range.samples, range.to, breaks[i]!, options.decodeAll)) ?? breaks[i]!;
        if (resume !== undefined && breaks[i]!.problem === 'unlinked') breaks[i] = (await editedEarlier(store, breaks[i]!, reference)) ?? breaks[i]!;
        breaks[i] = await withChanges(store, breaks[i]!, reference);
      }
    }
    if (breaks.length === 0) options.onVerified?.({ position, digest, lastHash, events, chained, unchained, decoded, streams });
    return result();
  };
  /** Records a break; true when the walk stops there. */
  const report = (broken: BrokenLink): boolean => {
    breaks.push(broken);
    return options.all !== true;
  };
  for (const rejected of options.rejectedCheckpoints ?? []) {
    if (report({ problem: 'checkpoint_invalid', streamId: null, revision: null, position: null, message: `witness line ${rejected.line}: ${rejected.problem}` })) return finish();
  }
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
    if (saved.hash !== EMPTY_LOG_DIGEST) {
      breaks.push(digestMismatch(undefined));
      return finish();
    }
  }
  /** The break behind a checkpoint the log no longer gives: named by the read models' copy where they can tell. */
  const checkpointBreak = (checkpoint: TrustedCheckpoint, through: EventProof | undefined): BrokenLink => {
    const signed = { position: checkpoint.position, digest: checkpoint.digest, ...(checkpoint.time ? { time: checkpoint.time } : {}) };
    const range = `between positions ${lastGoodPosition} and ${checkpoint.position}`;
    if (through === undefined) {
      const missing: MissingEvents = { afterPosition: position, throughPosition: checkpoint.position, events: store.kind === 'sqlite' ? checkpoint.position - position : null, named: [] };
      return {
        problem: 'truncated',
        streamId: null,
        revision: null,
        position: checkpoint.position,
        checkpoint: signed,
        missing,
        message: `the log ends at position ${position}, before the signed checkpoint at position ${checkpoint.position}: its tail was cut off; ${describeMissing(missing)}`,
      };
    }
    const broken: BrokenLink = {
      problem: 'checkpoint_mismatch',
      streamId: null,
      revision: null,
      position: checkpoint.position,
      checkpoint: signed,
      message: `the log up to position ${checkpoint.position} no longer gives the digest signed there: an event ${range} was edited, deleted, reordered or replaced`,
    };
    if (reference !== undefined) toLocate.set(broken, { samples, to: checkpoint.position });
    return broken;
  };
  /** Checks the checkpoints the walk has reached (`through`: the event just walked, undefined at the end of the log). */
  const reachCheckpoints = (through: EventProof | undefined, beforeIt = false): boolean => {
    while (nextCheckpoint < checkpoints.length) {
      const checkpoint = checkpoints[nextCheckpoint]!;
      if (through !== undefined && (checkpoint.position > through.position || (beforeIt && checkpoint.position === through.position))) return false;
      nextCheckpoint += 1;
      checkedCheckpoints += 1;
      if (checkpoint === latest) eventsAtLatest = events;
      const exact = through !== undefined && !beforeIt && checkpoint.position === through.position;
      if (exact && digest === checkpoint.digest) {
        if (options.checkReference === true && reference !== undefined) {
          const kept = reference.digestAt(checkpoint.position);
          if (kept !== undefined && kept !== checkpoint.digest) {
            const broken: BrokenLink = {
              problem: 'read_model_mismatch',
              streamId: null,
              revision: null,
              position: checkpoint.position,
              checkpoint: { position: checkpoint.position, digest: checkpoint.digest, ...(checkpoint.time ? { time: checkpoint.time } : {}) },
              message: `the read models' digest at position ${checkpoint.position} is not the one signed there: they serve what the signed checkpoint contradicts`,
            };
            if (report(broken)) return true;
          }
        }
        samples = [{ position: checkpoint.position, digest: checkpoint.digest }];
        sinceSample = 0;
        lastGoodPosition = checkpoint.position;
        continue;
      }
      // Past it without an event exactly at it (the event there is gone), or a digest it did not sign.
      if (report(checkpointBreak(checkpoint, through))) return true;
      // Every break, not only the first: from here on, the log is compared with what was signed.
      if (exact) digest = checkpoint.digest;
      samples = [{ position: checkpoint.position, digest: exact ? checkpoint.digest : digest }];
      sinceSample = 0;
      lastGoodPosition = checkpoint.position;
    }
    return false;
  };
  if (resume !== undefined && resume.position > 0) {
    // The event the earlier walk ended at is still there, with the same hash: the log was not cut or
    // rewritten at the seam (anything before it is the full verification's to find).
    const [last] = await store.readAllStored(resume.position, 1);
    const proof = last !== undefined && last.position === resume.position ? proveEvent(last, options.decodeAll) : undefined;
    if (proof === undefined || proof.altered !== undefined || proof.hash !== resume.lastHash) {
      const gone = proof === undefined;
      const head = gone ? await store.headPosition() : undefined;
      if (head !== undefined && head < resume.position) {
        // The tail was cut: every event after the log's end up to the one verified before is gone.
        const missing: MissingEvents = { afterPosition: head, throughPosition: resume.position, events: store.kind === 'sqlite' ? resume.position - head : null, named: [], vouchedBy: 'verified' };
        report({
          problem: 'truncated',
          streamId: null,
          revision: null,
          position: resume.position,
          missing,
          message: `the log ends at position ${head}, before position ${resume.position} verified before: its tail was cut off; ${describeMissing(missing)}`,
        });
        return finish();
      }
      report({
        problem: gone ? 'missing' : 'altered',
        streamId: proof?.streamId ?? null,
        revision: proof?.revision ?? null,
        position: resume.position,
        eventType: proof?.type ?? null,
        message: gone
          ? `the event at position ${resume.position}, verified before, is gone from the log`
          : `the event at position ${resume.position} no longer gives the hash it had when verified before (altered after it was written)`,
      });
      return finish();
    }
  }
  const keepSamples = checkpoints.length > 0 && reference !== undefined;
  const pageSize = options.pageSize ?? PAGE;
  for (let from = position + 1; ; ) {
    const page = await store.readAllStored(from, pageSize);
    for (const event of page) {
      const proof = proveEvent(event, options.decodeAll);
      // Past the saved position without an event exactly at it: the event there is gone.
      if (saved !== undefined && !digestChecked && proof.position > saved.position) {
        digestChecked = true;
        if (report(digestMismatch(proof))) return finish();
      }
      if (nextCheckpoint < checkpoints.length && checkpoints[nextCheckpoint]!.position < proof.position && reachCheckpoints(proof, true)) return finish();
      const before = streams.get(proof.streamId);
      const broken = brokenLink(proof, before, chained > 0);
      if (broken !== undefined && report(broken)) return finish();
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
      lastHash = proof.hash;
      digest = nextLogDigest(digest, proof.hash);
      if (keepSamples && ++sinceSample === SAMPLE) {
        samples.push({ position, digest });
        sinceSample = 0;
      }
      if (saved !== undefined && position === saved.position) {
        digestChecked = true;
        if (digest !== saved.hash && report(digestMismatch(proof))) return finish();
      }
      if (nextCheckpoint < checkpoints.length && checkpoints[nextCheckpoint]!.position <= position && reachCheckpoints(proof)) return finish();
    }
    if (page.length > 0) options.onProgress?.(events, position);
    if (page.length < pageSize) break;
    from = page[page.length - 1]!.position + 1;
    if (options.betweenPages) await options.betweenPages();
  }
  if (saved !== undefined && !digestChecked) {
    digestChecked = true;
    if (report(digestMismatch(undefined))) return finish();
  }
  if (nextCheckpoint < checkpoints.length && reachCheckpoints(undefined)) return finish();
  return finish();
}

/**
 * The event behind a checkpoint break, found by comparing the log's digest, event by event, with the
 * digests the read models kept: from the last sample they agree with, the first event where they part
 * is the one edited, replaced or moved, and an event they kept that the log no longer has was deleted.
 * Undefined when the read models cannot tell (they were rebuilt on the changed log, or lag behind).
 */
async function locate(store: EventStore, reference: LogReference, samples: readonly Sample[], to: number, broken: BrokenLink, decodeAll?: boolean): Promise<BrokenLink | undefined> {
  let start = samples[0]!;
  for (const sample of samples.slice(1)) {
    if (reference.digestAt(sample.position) !== sample.digest) break;
    start = sample;
  }
  let digest = start.digest;
  let previous = start.position;
  /** An event the read models kept after `previous` and before `position` that the log no longer has. */
  const goneBefore = (position: number): BrokenLink | undefined => {
    const kept = reference.positionAfter(previous);
    if (kept === undefined || kept >= position) return undefined;
    const gone = reference.eventAt(kept);
    if (gone === undefined) return undefined;
    return {
      ...broken,
      streamId: gone.streamId,
      revision: gone.revision,
      position: kept,
      eventType: gone.type,
      message: `the event at position ${kept} (${gone.type}, ${gone.streamId}@${gone.revision}) is gone from the log: deleted after it was signed`,
    };
  };
  for (let from = start.position + 1; from <= to; ) {
    const page = await store.readAllStored(from, PAGE);
    for (const event of page) {
      const deleted = goneBefore(Math.min(event.position, to + 1));
      if (deleted !== undefined) return deleted;
      if (event.position > to) return undefined;
      previous = event.position;
      digest = nextLogDigest(digest, proveEvent(event, decodeAll).hash);
      const keptDigest = reference.digestAt(event.position);
      if (keptDigest === undefined) return undefined;
      if (keptDigest === digest) continue;
      const at = { streamId: event.streamId, revision: event.revision, position: event.position, eventType: event.type };
      const name = `${event.streamId}@${event.revision}`;
      const copy = reference.eventAt(event.position);
      if (copy !== undefined && (copy.streamId !== event.streamId || copy.revision !== event.revision || copy.type !== event.type)) {
        return {
          ...broken,
          ...at,
          changes: fieldChanges({ stream: copy.streamId, revision: copy.revision, type: copy.type }, { stream: event.streamId, revision: event.revision, type: event.type }),
          message: `position ${event.position} now holds ${name} (${event.type}); it held ${copy.streamId}@${copy.revision} (${copy.type}) when signed: reordered or replaced`,
        };
      }
      return { ...broken, ...at, message: `${name} (${event.type}) at position ${event.position} was edited after it was signed (its hash recomputed to hide it)` };
    }
    if (page.length < PAGE) break;
    from = page[page.length - 1]!.position + 1;
  }
  return goneBefore(to + 1);
}

/** What a cut tail lost, in words: how many events, their positions, and those the read models name. */
function describeMissing(missing: MissingEvents): string {
  const count = missing.events === null ? 'the events' : `${missing.events} event(s)`;
  // Positions that do not follow one another (EventStoreDB's) are named by the range they fall in.
  const range =
    missing.events === null
      ? `after position ${missing.afterPosition} up to position ${missing.throughPosition}`
      : missing.afterPosition + 1 === missing.throughPosition
        ? `position ${missing.throughPosition}`
        : `positions ${missing.afterPosition + 1} to ${missing.throughPosition}`;
  const listed = missing.named.slice(0, LISTED_MISSING).map((e) => `${e.streamId}@${e.revision} (${e.type}) at position ${e.position}`);
  const more = missing.named.length > LISTED_MISSING ? `, and ${missing.named.length - LISTED_MISSING} more the read models name` : '';
  const by = missing.vouchedBy === 'verified' ? `verified before up to position ${missing.throughPosition}` : `vouched for by the signed checkpoint at position ${missing.throughPosition}`;
  return `missing: ${count}, ${range}, ${by}${listed.length > 0 ? `: ${listed.join(', ')}${more}` : ''}`;
}

/** A cut tail's break with the missing events the read models kept a copy of named (they lie in DATA_DIR too: names, not proof). */
function namedMissing(broken: BrokenLink, reference: LogReference): BrokenLink {
  const missing = broken.missing;
  if (missing === undefined) return broken;
  const named: MissingEvents['named'][number][] = [];
  for (let at = reference.positionAfter(missing.afterPosition); at !== undefined && at <= missing.throughPosition && named.length < MAX_NAMED_MISSING; at = reference.positionAfter(at)) {
    const kept = reference.eventAt(at);
    if (kept !== undefined) named.push({ position: at, streamId: kept.streamId, revision: kept.revision, type: kept.type });
  }
  if (named.length === 0) return broken;
  const withNames: MissingEvents = { ...missing, events: missing.events ?? (named.length < MAX_NAMED_MISSING ? named.length : null), named };
  const cut = broken.message.slice(0, broken.message.indexOf('; missing: '));
  return { ...broken, missing: withNames, message: `${cut}; ${describeMissing(withNames)}` };
}

/** A break that names one event, with the fields that differ from the read models' copy of it, when they kept one. */
async function withChanges(store: EventStore, broken: BrokenLink, reference: LogReference): Promise<BrokenLink> {
  if (broken.position === null || broken.changes !== undefined || broken.problem === 'missing' || broken.problem === 'truncated' || broken.eventType === undefined || broken.eventType === null) {
    return broken;
  }
  const changes = await keptChanges(store, reference, broken.position, broken.streamId, broken.revision);
  if (changes === 'reshaped') return { ...broken, message: `${broken.message}; fields were added or removed` };
  if (changes === undefined || changes.length === 0) return broken;
  const fields = changes.map((c) => c.field).join(', ');
  return { ...broken, changes, message: `${broken.message}; changed: ${fields}` };
}

/**
 * The fields of the event at `position` that differ from the read models' copy of it (`reshaped`:
 * fields were added or removed; undefined: no copy of that event, or it cannot be read).
 */
async function keptChanges(store: EventStore, reference: LogReference, position: number, streamId: string | null, revision: number | null): Promise<FieldChange[] | 'reshaped' | undefined> {
  const copy = reference.eventAt(position);
  if (copy === undefined || copy.streamId !== streamId || copy.revision !== revision) return undefined;
  const [stored] = await store.readAllStored(position, 1);
  if (stored === undefined || stored.position !== position) return undefined;
  let now: { data: unknown; metadata: unknown };
  try {
    now = { data: JSON.parse(stored.data) as unknown, metadata: JSON.parse(stored.metadata) as unknown };
  } catch {
    return undefined;
  }
  if (copy.data !== undefined) return fieldChanges({ type: copy.type, data: copy.data, metadata: copy.metadata }, { type: stored.type, data: now.data, metadata: now.metadata });
  if (copy.fields === undefined) return undefined;
  // Only the field evidence was kept: the fields are named, with what they hold now.
  const changed = changedFields(copy.fields, { type: stored.type, data: now.data, metadata: now.metadata });
  return changed === undefined ? 'reshaped' : changed.map(([field, value]) => ({ field, before: NOT_KEPT, after: value }));
}

// A relinked stream changes these in every event after an edit: the edit is elsewhere.
const LINK_FIELDS = new Set(['metadata.hash', 'metadata.prevHash']);

/**
 * An `unlinked` break found past the end of an earlier verification (the walk did not read the
 * stream's earlier events again): the earlier event of that stream that was edited (its stream then
 * relinked), found by the read models' copy; undefined when none can be told.
 */
async function editedEarlier(store: EventStore, broken: BrokenLink, reference: LogReference): Promise<BrokenLink | undefined> {
  if (broken.streamId === null || broken.revision === null) return undefined;
  const events = await store.readStream(broken.streamId);
  for (const event of events) {
    if (event.revision >= broken.revision) break;
    const changes = await keptChanges(store, reference, event.position, event.streamId, event.revision);
    const edited = changes === 'reshaped' ? [] : (changes ?? []).filter((c) => !LINK_FIELDS.has(c.field));
    if (changes !== 'reshaped' && edited.length === 0) continue;
    const name = `${event.streamId}@${event.revision}`;
    const what = changes === 'reshaped' ? 'fields were added or removed' : `changed: ${edited.map((c) => c.field).join(', ')}`;
    return {
      problem: 'altered',
      streamId: event.streamId,
      revision: event.revision,
      position: event.position,
      eventType: event.type,
      ...(changes === 'reshaped' ? {} : { changes: edited }),
      message: `${name}: edited after it was verified, and the events after it in its stream relinked (${what}); found at ${broken.streamId}@${broken.revision} (position ${broken.position}), whose prevHash no longer matches the hash verified before`,
    };
  }
  return undefined;
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

/**
 * The hash a stored event commits to (recorded, or computed for an unchained one), or why its own
 * content fails: what the checkpoint signer folds into the digest it signs, event by event.
 */
export function storedEventHash(event: StoredEvent): { readonly hash: string; readonly altered?: string } {
  const proof = proveEvent(event);
  return proof.altered !== undefined ? { hash: proof.hash, altered: proof.altered } : { hash: proof.hash };
}
