import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { Refusal } from '../common/refusal';
import { EVENT_STORE, EventStore, JsonObject, RecordedEvent, StreamNotFound, WrongExpectedVersion } from '../event-store/event-store';
import { auditMetadata, CommandContext } from './audit';
import { isRole, Role, ROLES } from './authorization';
import { API_TOKEN_ISSUED } from './streams';
import { upcast, withSchemaVersion } from '../domain/events';

/**
 * API tokens. Their whole life is events in one stream (`api_token-registry`): issuing and revoking
 * are audited like any change and work on either event store, and one stream's expected revision
 * keeps names unique across instances. The store holds a salted hash of each token, never the
 * token: a salted SHA-256 of a generated token (256 random bits: no guess finds it), and scrypt of a
 * supplied one (ADMIN_TOKEN, chosen by a person: a stolen copy of the log must not confirm guesses
 * quickly). Each `ApiTokenIssued` names its hash (`kdf`); one without is SHA-256 (recorded before
 * scrypt was used). This process keeps an index of the stream in memory and reads the stream's new events
 * when it meets a token id it does not know, and every few seconds.
 */

export const API_TOKEN_STREAM = 'api_token-registry';
export const TOKEN_ISSUED = API_TOKEN_ISSUED;
export const TOKEN_REVOKED = 'ApiTokenRevoked';
/** The name of the admin token a first start creates. */
export const FIRST_ADMIN_TOKEN_NAME = 'admin';

/** `topo_<16 hex id>_<32 random bytes, base64url>`: recognisable in a leak scan, and carries its id for the lookup. */
const TOKEN_FORMAT = /^topo_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const REFRESH_EVERY_MS = 5_000;
const REFRESH_ON_MISS_EVERY_MS = 1_000;
const MAX_ATTEMPTS = 8;

/** What the list shows of a token: never its secret or hash. */
export interface ApiTokenView {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
}

interface StoredToken extends ApiTokenView {
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly kdf: Kdf;
  /** `generated` tokens carry their id; a `supplied` one (ADMIN_TOKEN) is found by trying each supplied token. */
  readonly format: 'generated' | 'supplied';
}

export type TokenCheck = { readonly ok: true; readonly token: ApiTokenView } | { readonly ok: false; readonly reason: string };

export class TokenRefused extends Refusal {
  readonly code: string;
  readonly category: 'invalid' | 'not_found' | 'conflict';
  constructor(code: 'TOKEN_NAME_IN_USE' | 'TOKEN_NOT_FOUND' | 'INVALID_INPUT', message: string, field: string) {
    super(message, { field, details: code === 'INVALID_INPUT' ? { rule: 'schema' } : {} });
    this.code = code;
    this.category = code === 'TOKEN_NAME_IN_USE' ? 'conflict' : code === 'TOKEN_NOT_FOUND' ? 'not_found' : 'invalid';
  }
}

/** The form of a JWT (three base64url parts): a credential of this form is verified as one. */
export const JWT_FORM = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Names a presented credential in the record without revealing it: the first 12 hex digits of its
 * SHA-256 when it is random (a token of the generated form, a JWT), only the first 4 for any other,
 * which a person may have chosen (a mistyped or revoked ADMIN_TOKEN): too few to confirm a guess of
 * it from the log, which scrypt protects it from.
 */
export function credentialFingerprint(credential: string): string {
  const digest = createHash('sha256').update(credential).digest('hex');
  return TOKEN_FORMAT.test(credential) || JWT_FORM.test(credential) ? digest.slice(0, 12) : digest.slice(0, 4);
}

function saltedHash(salt: Buffer, credential: string): Buffer {
  return createHash('sha256').update(salt).update(credential).digest();
}

/** How a token's hash was made: `sha256` (salted, one round) or `scrypt` with its cost parameters, as recorded. */
export type Kdf = { readonly name: 'sha256' } | { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number };

/** scrypt's cost for supplied tokens: 16 MiB and about 0.1 s per hash on a server core. */
export const SCRYPT_COST = { N: 2 ** 14, r: 8, p: 1 } as const;
const SHA256: Kdf = { name: 'sha256' };

function hashOf(kdf: Kdf, salt: Buffer, credential: string): Promise<Buffer> {
  if (kdf.name === 'sha256') return Promise.resolve(saltedHash(salt, credential));
  const { N, r, p } = kdf;
  return new Promise((resolve, reject) =>
    scrypt(credential, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

function kdfOf(data: JsonObject): Kdf {
  const kdf = data['kdf'];
  if (typeof kdf !== 'object' || kdf === null || Array.isArray(kdf) || kdf['name'] !== 'scrypt') return SHA256;
  const [N, r, p] = [kdf['N'], kdf['r'], kdf['p']];
  // Costs past these bounds would take the server's memory: such a record verifies nothing.
  const sane = Number.isInteger(N) && Number.isInteger(r) && Number.isInteger(p) && (N as number) >= 2 && (N as number) <= 2 ** 20 && (r as number) >= 1 && (r as number) <= 32 && (p as number) >= 1 && (p as number) <= 16;
  return sane ? { name: 'scrypt', N: N as number, r: r as number, p: p as number } : SHA256;
}

/** The in-memory key of a credential this process has verified (memory only, never stored). */
const verifiedKey = (credential: string): string => createHash('sha256').update(credential).digest('base64url');
const MAX_VERIFIED = 1_000;
/** Credentials that may wait for a slow hash; one more is refused at once ("try again"). */
const MAX_WAITING_SLOW_HASHES = 32;

/** Runs at most `concurrency` tasks at once; the others wait in order. */
class Limit {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly concurrency: number) {}

  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.queue.shift()?.();
    }
  }
}

const DURATION = /^(\d{1,6})\s*(m|min|h|d|w)$/i;
const DURATION_MS: Record<string, number> = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An expiry given as an ISO-8601 time or a duration from `now` (`90m`, `12h`, `30d`, `2w`); null for none. */
export function parseExpiry(value: string | undefined | null, now: Date): string | null {
  if (value === undefined || value === null || value === '') return null;
  const duration = DURATION.exec(value.trim());
  const at = duration ? now.getTime() + Number(duration[1]) * DURATION_MS[duration[2]!.toLowerCase()]! : Date.parse(value);
  if (Number.isNaN(at) || !/\d/.test(value)) {
    throw new TokenRefused('INVALID_INPUT', `expires must be an ISO-8601 time or a duration such as 90m, 12h, 30d, 2w (got ${JSON.stringify(value)})`, 'expires');
  }
  if (at <= now.getTime()) throw new TokenRefused('INVALID_INPUT', `expires must be in the future (got ${JSON.stringify(value)})`, 'expires');
  return new Date(at).toISOString();
}

@Injectable()
export class ApiTokens implements OnModuleDestroy {
  private readonly tokens = new Map<string, StoredToken>();
  /** Supplied credentials already verified (by slow hash) → token id: a supplied token costs one scrypt per process, not one per request. */
  private readonly verified = new Map<string, string>();
  private readonly slowHashes = new Limit(2);
  private revision: number | 'no_stream' = 'no_stream';
  private lastRefresh = 0;
  private refreshing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  /** Reads the stream, then keeps reading its new events every few seconds (revocations by other instances). */
  async start(): Promise<void> {
    await this.refresh();
    this.timer ??= setInterval(() => void this.refresh().catch(() => undefined), REFRESH_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether any token was ever issued (a first start creates the admin token only when none was). */
  async anyIssued(): Promise<boolean> {
    await this.refresh();
    return this.revision !== 'no_stream';
  }

  /** Checks a presented credential: a generated token by its id, a supplied one against each supplied token; constant-time. */
  async check(credential: string, now = new Date()): Promise<TokenCheck> {
    const generated = TOKEN_FORMAT.exec(credential);
    let found: StoredToken | undefined;
    if (generated) {
      const id = generated[1]!;
      if (!this.tokens.has(id) && Date.now() - this.lastRefresh > REFRESH_ON_MISS_EVERY_MS) await this.refresh().catch(() => undefined);
      const token = this.tokens.get(id);
      if (token !== undefined && token.format === 'generated' && timingSafeEqual(saltedHash(token.salt, credential), token.hash)) found = token;
    }
    // A credential in the generated format is a generated token or nothing: it never costs a slow hash.
    if (found === undefined && !generated) {
      const supplied = await this.checkSupplied(credential);
      if (supplied === 'busy') return { ok: false, reason: 'too many credentials being verified; try again' };
      found = supplied;
    }
    if (found === undefined) return { ok: false, reason: 'unknown token' };
    if (found.revokedAt !== null) return { ok: false, reason: 'token revoked' };
    if (found.expiresAt !== null && found.expiresAt <= now.toISOString()) return { ok: false, reason: 'token expired' };
    return { ok: true, token: view(found) };
  }

  /** The supplied token this credential is, if any: from the verified ones, else by hashing it for each supplied token. */
  private async checkSupplied(credential: string): Promise<StoredToken | undefined | 'busy'> {
    const key = verifiedKey(credential);
    const known = this.verified.get(key);
    if (known !== undefined) return this.tokens.get(known);
    const supplied = [...this.tokens.values()].filter((token) => token.format === 'supplied');
    if (supplied.length === 0) return undefined;
    // Slow hashes run a few at a time, and only so many wait: unknown credentials cannot take every core.
    if (this.slowHashes.waiting >= MAX_WAITING_SLOW_HASHES) return 'busy';
    // Every supplied token is hashed and compared, match or not: the time does not tell which one matched.
    const hashes = await this.slowHashes.run(() => Promise.all(supplied.map((token) => hashOf(token.kdf, token.salt, credential))));
    const found = supplied.find((token, i) => hashes[i]!.length === token.hash.length && timingSafeEqual(hashes[i]!, token.hash));
    if (found !== undefined) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(key, found.id);
    }
    return found;
  }

  async list(): Promise<ApiTokenView[]> {
    await this.refresh();
    return [...this.tokens.values()].map(view).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  /**
   * Issues a token and returns it with its secret, the only time the secret is seen. `secret` is a
   * supplied credential (ADMIN_TOKEN); otherwise one is generated. With `onlyIfNone`, nothing is
   * issued (undefined) when the stream already exists.
   */
  async issue(
    request: { readonly name: string; readonly role: string; readonly expiresAt: string | null; readonly secret?: string | undefined },
    context: CommandContext,
    onlyIfNone = false,
  ): Promise<{ token: ApiTokenView; secret: string } | undefined> {
    const { name, role } = request;
    if (!TOKEN_NAME.test(name)) throw new TokenRefused('INVALID_INPUT', `name must be 1-64 letters, digits, or . _ @ - (got ${JSON.stringify(name)})`, 'name');
    if (!isRole(role)) throw new TokenRefused('INVALID_INPUT', `role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`, 'role');
    const id = randomBytes(8).toString('hex');
    const secret = request.secret ?? `topo_${id}_${randomBytes(32).toString('base64url')}`;
    const salt = randomBytes(16);
    const kdf: Kdf = request.secret === undefined ? SHA256 : { name: 'scrypt', ...SCRYPT_COST };
    const hash = await hashOf(kdf, salt, secret);
    for (let attempt = 1; ; attempt++) {
      await this.refresh();
      if (onlyIfNone && this.revision !== 'no_stream') return undefined;
      if ([...this.tokens.values()].some((t) => t.name === name && t.revokedAt === null)) {
        throw new TokenRefused('TOKEN_NAME_IN_USE', `An active API token is already named ${name}; revoke it or choose another name.`, 'name');
      }
      const data: JsonObject = {
        tokenId: id,
        name,
        role,
        format: request.secret === undefined ? 'generated' : 'supplied',
        salt: salt.toString('base64url'),
        hash: hash.toString('base64url'),
        kdf: { ...kdf },
        expiresAt: request.expiresAt,
      };
      if (await this.append(TOKEN_ISSUED, data, context, 'IssueApiToken', attempt)) break;
    }
    const token = this.tokens.get(id);
    if (token === undefined) throw new Error(`API token ${id} was appended but is not in the index`);
    return { token: view(token), secret };
  }

  /** Revokes the active token with this id or name. */
  async revoke(idOrName: string, context: CommandContext): Promise<ApiTokenView> {
    for (let attempt = 1; ; attempt++) {
      await this.refresh();
      const token = this.tokens.get(idOrName) ?? [...this.tokens.values()].find((t) => t.name === idOrName && t.revokedAt === null);
      if (token === undefined || token.revokedAt !== null) {
        throw new TokenRefused('TOKEN_NOT_FOUND', `No active API token has the id or name ${JSON.stringify(idOrName)}.`, 'token');
      }
      if (await this.append(TOKEN_REVOKED, { tokenId: token.id, name: token.name }, context, 'RevokeApiToken', attempt)) {
        return view(this.tokens.get(token.id) ?? token);
      }
    }
  }

  /** Appends at the revision the index has seen; false when another writer got there first (then try again). */
  private async append(type: string, data: JsonObject, context: CommandContext, command: string, attempt: number): Promise<boolean> {
    let appended: number;
    try {
      const result = await this.store.appendToStream(
        API_TOKEN_STREAM,
        [withSchemaVersion({ id: randomUUID(), type, data, metadata: auditMetadata(context, { command }) })],
        { expectedRevision: this.revision },
      );
      appended = result.nextExpectedRevision;
    } catch (error) {
      if (error instanceof WrongExpectedVersion && attempt < MAX_ATTEMPTS) return false;
      throw error;
    }
    // A read already in flight may have started before the append: read until the index has it.
    for (let reads = 0; reads < 3 && (this.revision === 'no_stream' || this.revision < appended); reads++) await this.refresh();
    return true;
  }

  /** Reads the stream's events after the last one applied; concurrent callers share one read. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.readNew().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readNew(): Promise<void> {
    this.lastRefresh = Date.now();
    let events: RecordedEvent[];
    try {
      events = await this.store.readStream(API_TOKEN_STREAM, this.revision === 'no_stream' ? {} : { fromRevision: this.revision + 1 });
    } catch (error) {
      if (error instanceof StreamNotFound) return;
      throw error;
    }
    for (const event of events) {
      this.apply(event);
      this.revision = event.revision;
    }
  }

  private apply(event: RecordedEvent): void {
    const { data, metadata } = upcast(event);
    const actor = typeof metadata['actor'] === 'string' ? metadata['actor'] : 'unknown';
    const at = typeof metadata['occurredAt'] === 'string' ? metadata['occurredAt'] : event.created.toISOString();
    const id = String(data['tokenId']);
    if (event.type === TOKEN_ISSUED) {
      const role = String(data['role']);
      if (!isRole(role)) return;
      this.tokens.set(id, {
        id,
        name: String(data['name']),
        role,
        createdAt: at,
        createdBy: actor,
        expiresAt: typeof data['expiresAt'] === 'string' ? data['expiresAt'] : null,
        revokedAt: null,
        revokedBy: null,
        salt: Buffer.from(String(data['salt']), 'base64url'),
        hash: Buffer.from(String(data['hash']), 'base64url'),
        kdf: kdfOf(data),
        format: data['format'] === 'supplied' ? 'supplied' : 'generated',
      });
    } else if (event.type === TOKEN_REVOKED) {
      const token = this.tokens.get(id);
      if (token !== undefined) this.tokens.set(id, { ...token, revokedAt: at, revokedBy: actor });
    }
  }
}

function view(token: StoredToken): ApiTokenView {
  const { salt: _salt, hash: _hash, kdf: _kdf, format: _format, ...shown } = token;
  return shown;
}
