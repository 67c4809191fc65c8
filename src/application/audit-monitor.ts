import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import { auditDigestProjection, DIGEST_TABLES } from '../../projections/audit-digest/audit-digest.projection';
import { AUDIT_TABLE, auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import type { TableReader } from '../../projections/runner/projection';
import { ReadModels } from '../../projections/runner/projection-runner';
import { ConfigError } from '../config/config';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { AuditLogBroken, EVENT_STORE, EventStore } from '../event-store/event-store';
import { nextLogDigest } from '../event-store/chain-hash';
import { HashChainedEventStore } from '../event-store/hash-chain';
import { isCorruptionError } from '../event-store/event-store';
import { AuditKey, AuditKeyError, checkpointProblem, readPrivateKey, SignedCheckpoint, signCheckpoint } from './audit-signing';
import { BrokenLink, LogReference, LogVerification, storedEventHash, TrustedCheckpoint, VerifiedPrefix, verifyLog, VerifyOptions } from './log-verification';
import { FileWitness, UrlWitness, Witness } from './witness';

/** What `/health` and reports say of the log's protection. */
export type AuditLogStatus = 'unprotected' | 'verifying' | 'verified' | 'broken';

export interface WitnessHealth {
  readonly name: string;
  readonly ok: boolean;
  /** Checkpoints handed to it since this process started. */
  readonly published: number;
  /** Position of the latest checkpoint it holds: read back from it at start, then the last one it kept (null: none known). */
  readonly latestPosition: number | null;
  readonly failures: number;
  readonly failingSince: string | null;
  readonly lastError: string | null;
}

/** Said at start and in `/health` when no signing key is configured. */
export const UNPROTECTED_WARNING =
  'the audit log is not protected against whoever can write DATA_DIR: no AUDIT_KEY_FILE, so no checkpoint is signed and an edited store file (hashes recomputed) cannot be told from the original';

/** Under load, checkpoints are signed at most this often; an acknowledged append waits at most this long (plus the signing) to be signed. */
export const CHECKPOINT_MIN_INTERVAL_MS = 500;
/** A witness that has failed for this long makes `/health` degraded, */
const WITNESS_DOWN_AFTER_MS = 10_000;
/** ... or failed this many times in a row (about 3.5 s of retries). */
const WITNESS_DOWN_AFTER_FAILURES = 3;
const WITNESS_RETRY_MAX_MS = 30_000;
const READ_PAGE = 1_000;
/** How long the witnesses' latest checkpoints, once read, serve the read models' check. */
const TRUSTED_CACHE_MS = 5_000;

/** The read models' copy of the log, to name the event and fields behind a break (see `LogReference`). */
export function readModelReference(runner: ReadModels): LogReference {
  const digests = (): TableReader => runner.reader(auditDigestProjection.name);
  const trail = (): TableReader => runner.reader(auditTrailProjection.name);
  return {
    digestAt(position) {
      const [row] = digests().rows(DIGEST_TABLES.log, { where: { position }, limit: 1 });
      return row === undefined ? undefined : String(row['hash']);
    },
    eventAt(position) {
      const [row] = trail().rows(AUDIT_TABLE, { where: { position }, limit: 1 });
      if (row === undefined) return undefined;
      // The audit trail reads its entries' bodies from the log itself: what the read models kept of
      // each event, to compare with the log, is its field evidence beside the digest.
      const [digest] = digests().rows(DIGEST_TABLES.log, { where: { position }, limit: 1 });
      const fields = typeof digest?.['fields'] === 'string' ? digest['fields'] : undefined;
      return { streamId: String(row['stream_id']), revision: Number(row['revision']), type: String(row['event_type']), ...(fields !== undefined ? { fields } : {}) };
    },
    positionAfter(position) {
      const [row] = trail().rows(AUDIT_TABLE, { after: { column: 'position', value: position }, orderBy: ['position'], limit: 1 });
      return row === undefined ? undefined : Number(row['position']);
    },
  };
}

/** The background verification reads the whole log again at least this often (and at start). */
export const WHOLE_LOG_EVERY_MS = 60 * 60_000;

/**
 * Guards the tamper-evident log while the server runs:
 * - with `AUDIT_KEY_FILE`, signs a checkpoint `{ position, digest, time }` after appends are
 *   acknowledged (off their path: batched, at most every {@link CHECKPOINT_MIN_INTERVAL_MS} under load)
 *   and hands it to the witnesses (`AUDIT_WITNESS_FILE`, `AUDIT_WITNESS_URL`);
 * - verifies the log at start and every `AUDIT_VERIFY_INTERVAL` in the background, against the
 *   witness's latest checkpoint, and the digest read model against the checkpoints;
 * - on a break, refuses every append (`AUDIT_LOG_BROKEN`) and says so in `/health` and on every answer.
 */
@Injectable()
export class AuditMonitor implements BeforeApplicationShutdown {
  private readonly logger = new Logger('AuditLog');
  private key: AuditKey | undefined;
  private readonly witnesses: WitnessEntry[] = [];
  private state: AuditLogStatus = 'unprotected';
  private brokenAt: BrokenLink | undefined;
  private lastVerified: { at: string; events: number; position: number; fromPosition: number; wholeLogAt: string } | undefined;
  /** When the whole log was last verified (at start, then at least every WHOLE_LOG_EVERY_MS in the background). */
  private wholeLogAt: number | undefined;
  /** Where the last verification that found no break ended: the background one goes on from there. */
  private verifiedPrefix: VerifiedPrefix | undefined;
  /** The signer's digest: the log up to `position` as verified, then as signed. */
  private signer: { position: number; digest: string } | undefined;
  private latest: SignedCheckpoint | undefined;
  private wanted = false;
  private signing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private lastSignedAt = 0;
  private verifying: Promise<LogVerification | undefined> | undefined;
  private stopped = false;
  private trustedCache: { at: number; checkpoints: TrustedCheckpoint[] } | undefined;
  private apiVerifications: Promise<void> = Promise.resolve();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly runner: ReadModels,
  ) {}

  /** Reads the key (a bad one stops the start with one line naming AUDIT_KEY_FILE), then verifies the log in the background; appends wait for that. */
  start(): void {
    const audit = this.config.audit;
    if (audit.keyFile !== undefined) {
      try {
        this.key = readPrivateKey(audit.keyFile);
      } catch (error) {
        if (error instanceof AuditKeyError) throw new ConfigError('AUDIT_KEY_FILE', `must be an Ed25519 private key in PEM (${error.message})`, audit.keyFile);
        throw error;
      }
      if (audit.witnessFile !== undefined) this.addWitness(new FileWitness(audit.witnessFile));
      if (audit.witnessUrl !== undefined) this.addWitness(new UrlWitness(audit.witnessUrl));
      this.state = 'verifying';
    }
    const chained = this.store instanceof HashChainedEventStore ? this.store : undefined;
    const first = this.verify('start');
    chained?.holdAppends(first);
    chained?.onAppended((position) => this.appended(position));
    this.interval = setInterval(() => void this.verify('interval'), audit.verifyIntervalMs);
    this.interval.unref();
  }

  get fingerprint(): string | undefined {
    return this.key?.fingerprint;
  }

  get status(): AuditLogStatus {
    return this.state;
  }

  get broken(): BrokenLink | undefined {
    return this.brokenAt;
  }

  get latestCheckpoint(): SignedCheckpoint | undefined {
    return this.latest;
  }

  /** Resolves once a checkpoint at or past `position` is signed, or after `timeoutMs`, or at once without a key. */
  async waitForCheckpoint(position: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.key !== undefined && this.state !== 'broken' && (this.latest?.position ?? 0) < position && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** What `/health` shows of the log's protection. */
  health(): {
    status: AuditLogStatus;
    protected: boolean;
    degraded: boolean;
    warning?: string;
    key?: string;
    latestCheckpoint?: { position: number; digest: string; time: string };
    lastVerified?: { at: string; events: number; position: number; fromPosition: number; wholeLogAt: string };
    witnesses: WitnessHealth[];
    at?: BrokenLink;
  } {
    const now = Date.now();
    const witnesses = this.witnesses.map(({ health }) => ({ ...health, ok: health.failingSinceMs === undefined || (now - health.failingSinceMs < WITNESS_DOWN_AFTER_MS && health.consecutive < WITNESS_DOWN_AFTER_FAILURES) })).map(({ failingSinceMs: _ms, consecutive: _n, ...rest }) => rest);
    return {
      status: this.state,
      protected: this.key !== undefined,
      degraded: witnesses.some((w) => !w.ok) || (this.key !== undefined && this.witnesses.length === 0),
      ...(this.key === undefined ? { warning: UNPROTECTED_WARNING } : { key: this.key.fingerprint }),
      ...(this.latest ? { latestCheckpoint: { position: this.latest.position, digest: this.latest.digest, time: this.latest.time } } : {}),
      ...(this.lastVerified ? { lastVerified: this.lastVerified } : {}),
      witnesses,
      ...(this.brokenAt ? { at: this.brokenAt } : {}),
    };
  }

  /**
   * The checkpoints the log is verified against: the witness file's latest (its tail read), the
   * witness service's latest (a GET on its URL, when it answers one), and the latest signed here.
   */
  async trustedCheckpoints(): Promise<SignedCheckpoint[]> {
    if (this.key === undefined) return [];
    const found: SignedCheckpoint[] = [];
    const held = (kind: typeof FileWitness | typeof UrlWitness, latest: SignedCheckpoint | undefined): void => {
      if (latest === undefined) return;
      found.push(latest);
      for (const { witness, health } of this.witnesses) {
        if (witness instanceof kind && (health.latestPosition ?? 0) < latest.position) health.latestPosition = latest.position;
      }
    };
    const file = this.config.audit.witnessFile;
    if (file !== undefined) held(FileWitness, latestInFile(file, this.key));
    const url = this.config.audit.witnessUrl;
    if (url !== undefined) held(UrlWitness, await latestFromUrl(url, this.key));
    if (this.latest) found.push(this.latest);
    found.sort((a, b) => a.position - b.position);
    return found.filter((c, i) => i === 0 || c.position !== found[i - 1]!.position || c.digest !== found[i - 1]!.digest);
  }

  /**
   * Verifies the log in the background (yielding between pages) against the witnesses' latest
   * checkpoints and the read models; on a break, stops every append. One at a time. At start the
   * whole log; then every interval only what was appended since the last verification ended (its
   * last event must still give the same hash), so that a long log is not read again and again. The
   * whole log is verified again on demand (`GET /api/audit/verify`, `topo audit verify`), which finds
   * an edit before that point.
   */
  verify(why: 'start' | 'interval'): Promise<LogVerification | undefined> {
    if (this.verifying !== undefined) return this.verifying;
    const run = async (): Promise<LogVerification | undefined> => {
      if (this.state === 'broken' && why === 'interval') return undefined;
      // Taken before the walk: every checkpoint signed so far covers events already in the log.
      const checkpoints = await this.trustedCheckpoints();
      // The whole log again at least every hour: an edit before the last verified position, its stream
      // never appended to again, is found within the hour, not only at the next start or on demand.
      const whole = why === 'start' || this.wholeLogAt === undefined || Date.now() - this.wholeLogAt >= WHOLE_LOG_EVERY_MS;
      const startedAt = Date.now();
      const resume = whole ? undefined : this.verifiedPrefix;
      const result = await this.verifyWith({
        checkpoints,
        reference: readModelReference(this.runner),
        checkReference: true,
        betweenPages: yieldToOthers,
        ...(resume !== undefined ? { resume } : {}),
        onVerified: (prefix) => (this.verifiedPrefix = prefix),
      });
      if (result.broken !== null) {
        this.markBroken(result.broken);
        return result;
      }
      if (whole) this.wholeLogAt = startedAt;
      this.lastVerified = {
        at: new Date().toISOString(),
        events: result.events,
        position: result.digest.position,
        fromPosition: resume?.position ?? 0,
        wholeLogAt: new Date(this.wholeLogAt ?? startedAt).toISOString(),
      };
      if (this.key !== undefined && this.state !== 'broken') this.state = 'verified';
      if (why === 'start' && this.key !== undefined && this.signer === undefined) {
        this.signer = { position: result.digest.position, digest: result.digest.hash };
        // The latest checkpoint a witness holds, just verified against the log: what `/health` and reports rest on
        // until the next one is signed (a restart signs nothing when every event is signed already).
        const held = checkpoints[checkpoints.length - 1];
        if (this.latest === undefined && held !== undefined) this.latest = held;
        if (result.unsigned > 0 || checkpoints.length === 0) {
          if (this.config.logLevel !== 'silent' && result.unsigned > 0) {
            this.logger.warn(`${result.unsigned} event(s) after the latest signed checkpoint (position ${result.checkpoints.latest?.position ?? 0}): their chain holds; signing them now`);
          }
          if (result.digest.position > 0) await this.sign(result.digest.position, result.digest.hash);
        }
        // Appends acknowledged while this ran are signed now.
        this.wanted = true;
        this.schedule();
      }
      return result;
    };
    const running = run()
      .catch((error: unknown) => {
        // A damaged store file stops the process as anywhere else (see main.ts), untouched.
        if (isCorruptionError(error)) {
          process.nextTick(() => {
            throw error;
          });
          return undefined;
        }
        this.logger.error(`verifying the audit log failed: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      })
      .finally(() => {
        this.verifying = undefined;
      });
    this.verifying = running;
    return running;
  }

  /**
   * The same verification, for `GET /api/audit/verify` (progress through `onProgress`). One runs at a
   * time (the others wait their turn); `stopped()` true between two pages abandons it (the client left):
   * it then resolves undefined.
   */
  verifyNow(options: Pick<VerifyOptions, 'onProgress' | 'all'>, stopped: () => boolean = () => false): Promise<LogVerification | undefined> {
    const run = async (): Promise<LogVerification | undefined> => {
      if (stopped()) return undefined;
      const checkpoints = await this.trustedCheckpoints();
      const betweenPages = async (): Promise<void> => {
        if (stopped()) throw new VerificationAbandoned();
        await yieldToOthers();
      };
      let result: LogVerification;
      try {
        result = await this.verifyWith({ ...options, checkpoints, reference: readModelReference(this.runner), checkReference: true, betweenPages, onVerified: (prefix) => (this.verifiedPrefix = prefix) });
      } catch (error) {
        if (error instanceof VerificationAbandoned) return undefined;
        throw error;
      }
      if (result.broken !== null) this.markBroken(result.broken);
      return result;
    };
    const turn = this.apiVerifications.then(run);
    this.apiVerifications = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /**
   * Whether the digest read model contradicts a signed checkpoint (a rebuild on an edited log would):
   * then the log is marked broken and the digest must not be served. Undefined when it agrees.
   */
  async contradiction(digestAt: (position: number) => string | undefined): Promise<BrokenLink | undefined> {
    // Read again at most every few seconds: a query must not wait on the witness service each time.
    if (this.trustedCache === undefined || Date.now() - this.trustedCache.at > TRUSTED_CACHE_MS) {
      this.trustedCache = { at: Date.now(), checkpoints: await this.trustedCheckpoints() };
    }
    const checkpoints = [...this.trustedCache.checkpoints, ...(this.latest ? [this.latest] : [])];
    for (const checkpoint of checkpoints) {
      const kept = digestAt(checkpoint.position);
      if (kept === undefined || kept === checkpoint.digest) continue;
      const at: BrokenLink = {
        problem: 'read_model_mismatch',
        streamId: null,
        revision: null,
        position: checkpoint.position,
        checkpoint: { position: checkpoint.position, digest: checkpoint.digest, ...(checkpoint.time ? { time: checkpoint.time } : {}) },
        message: `the digest read model gives ${kept} at position ${checkpoint.position}, where the signed checkpoint says ${checkpoint.digest}`,
      };
      this.markBroken(at);
      return at;
    }
    return undefined;
  }

  private verifyWith(options: VerifyOptions): Promise<LogVerification> {
    return verifyLog(this.store, options);
  }

  private markBroken(at: BrokenLink): void {
    if (this.state !== 'broken') {
      this.logger.error(`the audit log is broken: ${at.problem} at position ${String(at.position)}: ${at.message}. Appends are refused (AUDIT_LOG_BROKEN) until it is investigated.`);
    }
    this.state = 'broken';
    this.brokenAt = at;
    if (this.store instanceof HashChainedEventStore) {
      this.store.refuseAppends(new AuditLogBroken(`The audit log is broken (${at.problem} at position ${String(at.position)}): nothing may be appended on it. ${at.message}`, at));
    }
  }

  private appended(position: number): void {
    if (this.key === undefined || this.signer === undefined || this.state === 'broken' || position <= this.signer.position) return;
    this.wanted = true;
    this.schedule();
  }

  /** Signs soon: right after the answer when idle, at most every CHECKPOINT_MIN_INTERVAL_MS under load. */
  private schedule(): void {
    if (this.signing !== undefined || this.timer !== undefined || this.stopped) return;
    const wait = Math.max(0, this.lastSignedAt + CHECKPOINT_MIN_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.signing = this.signHead().finally(() => {
        this.signing = undefined;
        if (this.wanted) this.schedule();
      });
    }, wait);
  }

  /** Folds the events appended since the last checkpoint into the digest, then signs the head. */
  private async signHead(): Promise<void> {
    this.wanted = false;
    const signer = this.signer;
    if (signer === undefined || this.key === undefined || this.state === 'broken') return;
    this.lastSignedAt = Date.now();
    let { position, digest } = signer;
    try {
      for (;;) {
        const page = await this.store.readAllStored(position + 1, READ_PAGE);
        for (const event of page) {
          const proof = storedEventHash(event);
          if (proof.altered !== undefined) {
            this.markBroken({ problem: 'altered', streamId: event.streamId, revision: event.revision, position: event.position, eventType: event.type, message: `${event.streamId}@${event.revision}: ${proof.altered}` });
            return;
          }
          digest = nextLogDigest(digest, proof.hash);
          position = event.position;
        }
        if (page.length < READ_PAGE) break;
      }
    } catch (error) {
      this.logger.error(`signing a checkpoint: reading the log failed: ${error instanceof Error ? error.message : String(error)}`);
      this.wanted = true;
      return;
    }
    if (position === signer.position) return;
    signer.position = position;
    signer.digest = digest;
    await this.sign(position, digest);
  }

  private async sign(position: number, digest: string): Promise<void> {
    const checkpoint = signCheckpoint(this.key!, position, digest, new Date());
    // Every witness gets it on its own: a slow or failing one holds back neither the others nor a command.
    await Promise.all(this.witnesses.map((w) => this.publish(w, checkpoint)));
    this.latest = checkpoint;
  }

  /**
   * Hands `checkpoint` to one witness. Publications to a witness run one after the other, so that its
   * checkpoints arrive in order; a failed one is retried later with the latest checkpoint then.
   */
  private publish(entry: WitnessEntry, checkpoint: SignedCheckpoint): Promise<void> {
    entry.pending = checkpoint;
    if (entry.retry !== undefined) return Promise.resolve(); // a retry is waiting: it sends the latest
    const run = entry.queue.then(() => this.publishPending(entry));
    entry.queue = run.catch(() => undefined);
    return run;
  }

  private async publishPending(entry: WitnessEntry): Promise<void> {
    const checkpoint = entry.pending;
    // Sent already, or a later one was: each checkpoint commits to every earlier one.
    if (checkpoint === undefined || checkpoint.position < entry.lastPosition) return;
    const health = entry.health;
    try {
      await entry.witness.publish(checkpoint);
      if (entry.pending === checkpoint) entry.pending = undefined;
      entry.lastPosition = checkpoint.position;
      health.published += 1;
      health.latestPosition = checkpoint.position;
      health.failingSinceMs = undefined;
      health.failingSince = null;
      health.lastError = null;
      health.consecutive = 0;
    } catch (error) {
      health.failures += 1;
      health.lastError = error instanceof Error ? error.message : String(error);
      if (health.failingSinceMs === undefined) {
        health.failingSinceMs = Date.now();
        health.failingSince = new Date().toISOString();
        this.logger.warn(`witness ${entry.witness.name} failed: ${health.lastError}; retrying`);
      }
      if (this.stopped) return;
      // Retried with the latest checkpoint (it commits to every earlier one), backing off to 30 s.
      const delay = Math.min(WITNESS_RETRY_MAX_MS, 500 * 2 ** Math.min(6, health.consecutive++));
      entry.retry = setTimeout(() => {
        entry.retry = undefined;
        const latest = entry.pending;
        if (latest !== undefined) void this.publish(entry, latest);
      }, delay);
      entry.retry.unref();
    }
  }

  private addWitness(witness: Witness): void {
    this.witnesses.push({
      witness,
      health: { name: witness.name, ok: true, published: 0, latestPosition: null, failures: 0, failingSince: null, lastError: null, consecutive: 0 },
      queue: Promise.resolve(),
      lastPosition: 0,
    });
  }

  /** Signs what is still unsigned (so that a stop leaves nothing acknowledged unsigned), then stops; before the store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.interval) clearInterval(this.interval);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.signing;
    if (this.key !== undefined && this.signer !== undefined && this.state !== 'broken') await this.signHead();
    this.stopped = true;
    for (const w of this.witnesses) if (w.retry) clearTimeout(w.retry);
  }
}

/** The client of a verification left: the walk stops at the next page. */
class VerificationAbandoned extends Error {}

interface WitnessEntry {
  readonly witness: Witness;
  readonly health: MutableWitnessHealth;
  /** The latest checkpoint not yet kept by the witness. */
  pending?: SignedCheckpoint | undefined;
  retry?: NodeJS.Timeout | undefined;
  /** Publications in order: the next waits for this one. */
  queue: Promise<void>;
  /** Position of the last checkpoint the witness kept. */
  lastPosition: number;
}

interface MutableWitnessHealth {
  name: string;
  ok: boolean;
  published: number;
  latestPosition: number | null;
  failures: number;
  failingSince: string | null;
  lastError: string | null;
  failingSinceMs?: number | undefined;
  consecutive: number;
}

/** Lets other work (requests, appends) go first between two pages of a background verification. */
function yieldToOthers(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The last line of a witness file that is a checkpoint signed by `key` (only the file's tail is read). */
export function latestInFile(file: string, key: Pick<AuditKey, 'publicKey' | 'fingerprint'>): SignedCheckpoint | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        const value = JSON.parse(line) as unknown;
        if (checkpointProblem(value, key.publicKey, key.fingerprint) === undefined) return value as SignedCheckpoint;
      } catch {
        // a partial first line of the tail, or a damaged line: the one before may do
      }
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The witness service's latest checkpoint, when it answers a GET with one (JSON, or NDJSON whose last line is one). */
async function latestFromUrl(url: string, key: Pick<AuditKey, 'publicKey' | 'fingerprint'>): Promise<SignedCheckpoint | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    const text = (await response.text()).trim();
    const candidates: unknown[] = [];
    try {
      const value = JSON.parse(text) as unknown;
      candidates.push(...(Array.isArray(value) ? value : [value]));
    } catch {
      for (const line of text.split('\n')) {
        try {
          candidates.push(JSON.parse(line));
        } catch {
          // not a checkpoint
        }
      }
    }
    const valid = candidates.filter((c) => checkpointProblem(c, key.publicKey, key.fingerprint) === undefined) as SignedCheckpoint[];
    return valid.sort((a, b) => a.position - b.position)[valid.length - 1];
  } catch {
    return undefined;
  }
}
