import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Synchronous } from '../common/sqlite/synchronous';

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';
/** `auto`: `pretty` when standard output is a terminal, `json` otherwise. */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** The product's configuration, parsed and validated once at start. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly eventStoreConnectionString: string | undefined;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly adminToken: string | undefined;
  readonly sqliteSynchronous: Synchronous;
  /** With `authentication: 'off'`, recorded as the actor of every change; marked unauthenticated. */
  readonly defaultActor: string;
  /** `on`: every `/api` request needs a credential (API token or OIDC JWT); `off`: loopback only, everyone is `defaultActor`. */
  readonly authentication: 'on' | 'off';
  /** OpenID Connect bearer tokens, when an issuer is configured. */
  readonly oidc: OidcConfig | undefined;
  /** Requests per second per principal (twice that in a burst); 0 turns the limit off. */
  readonly rateLimit: number;
  /** Four eyes: a migration's plan and its rollback wait for ApproveChange by another administrator. */
  readonly fourEyes: boolean;
  /**
   * Commands that also need a reason or change ticket (`REASON_REQUIRED_FOR`), beyond those the
   * product always requires one for (removals, decommissions, MigratePool, RollbackMigration, ...).
   * Names are checked against the commands the API knows when the server starts.
   */
  readonly reasonRequiredFor: ReadonlySet<string>;
  /** Signed checkpoints and their witnesses (see `auditConfig`). */
  readonly audit: AuditConfig;
  /** `METRICS_TOKEN`: a bearer token that may read `GET /metrics` (and nothing else). */
  readonly metricsToken: string | undefined;
}

/** Where the log's signing key and its witnesses are; all outside DATA_DIR. */
export interface AuditConfig {
  /** Ed25519 private key (PEM) that signs checkpoints; without it the log is not protected against whoever can write DATA_DIR. */
  readonly keyFile: string | undefined;
  /** Append-only file every signed checkpoint is added to. */
  readonly witnessFile: string | undefined;
  /** Service every signed checkpoint is POSTed to. */
  readonly witnessUrl: string | undefined;
  /** How often the server verifies the log in the background, in milliseconds. */
  readonly verifyIntervalMs: number;
}

/** Where OIDC JWTs come from and how their claim becomes a role. */
export interface OidcConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string;
  /** A claim name, or a dotted path into nested claims (`realm_access.roles`); its value is a string or a list of strings. */
  readonly roleClaim: string;
  /** Claim value → role. A value the map does not name gives no role. */
  readonly roleMap: ReadonlyMap<string, string>;
}

/** A configuration value that breaks a rule; the message names the variable and the rule. */
export class ConfigError extends Error {
  constructor(readonly variable: string, rule: string, value: string) {
    super(`invalid configuration: ${variable} ${rule} (got ${JSON.stringify(value)})`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug'];
const SYNCHRONOUS: readonly Synchronous[] = ['FULL', 'EXTRA', 'NORMAL'];
const STORE_SCHEMES = ['esdb://', 'esdb+discover://', 'kurrentdb://', 'kurrentdb+discover://', 'kurrent://', 'kurrent+discover://', 'kdb://', 'kdb+discover://'];

function oneOf<T extends string>(env: Env, variable: string, allowed: readonly T[], fallback: T, normalise = (v: string) => v): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = normalise(raw.trim());
  const match = allowed.find((a) => a === value);
  if (!match) throw new ConfigError(variable, `must be one of ${allowed.join(', ')}`, raw);
  return match;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const rawPort = env['PORT'] ?? '3000';
  const port = /^\d{1,5}$/.test(rawPort.trim()) ? Number(rawPort.trim()) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('PORT', 'must be an integer from 0 to 65535 (0 picks a free port)', rawPort);
  }

  const host = (env['HOST'] ?? '127.0.0.1').trim();
  if (host === '' || /\s|\//.test(host)) throw new ConfigError('HOST', 'must be an interface address or host name', env['HOST'] ?? '');

  const rawDataDir = env['DATA_DIR'] ?? './data';
  if (rawDataDir.trim() === '') throw new ConfigError('DATA_DIR', 'must be a directory path', rawDataDir);

  const connection = env['EVENTSTORE_CONNECTION_STRING']?.trim() || undefined;
  if (connection !== undefined && !STORE_SCHEMES.some((s) => connection.toLowerCase().startsWith(s))) {
    throw new ConfigError('EVENTSTORE_CONNECTION_STRING', `must start with ${STORE_SCHEMES.join(', ')}`, connection);
  }

  const adminToken = env['ADMIN_TOKEN'] || undefined;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters', '<hidden>');
  }
  if (adminToken !== undefined && /^topo_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(adminToken)) {
    throw new ConfigError('ADMIN_TOKEN', 'must not have the form of a generated token (topo_<id>_<secret>); choose another', '<hidden>');
  }

  const defaultActor = (env['TOPO_DEFAULT_ACTOR'] ?? 'local-admin').trim();
  if (!/^[\w.@\\-]{1,128}$/.test(defaultActor)) {
    throw new ConfigError('TOPO_DEFAULT_ACTOR', 'must be 1-128 letters, digits, or . @ \\ - _', defaultActor);
  }

  const authentication = oneOf(env, 'AUTHENTICATION', ['on', 'off'] as const, 'on', (v) => v.toLowerCase());
  if (authentication === 'off' && !isLoopback(host)) {
    throw new ConfigError('HOST', 'must be a loopback address (127.0.0.1, ::1 or localhost) while AUTHENTICATION=off', host);
  }

  const rawRateLimit = (env['RATE_LIMIT'] ?? '').trim();
  const rateLimit = rawRateLimit === '' ? DEFAULT_RATE_LIMIT : /^\d{1,7}$/.test(rawRateLimit) ? Number(rawRateLimit) : NaN;
  if (!Number.isInteger(rateLimit)) {
    throw new ConfigError('RATE_LIMIT', 'must be a whole number of requests per second per principal (0 turns the limit off)', rawRateLimit);
  }

  const metricsToken = env['METRICS_TOKEN'] || undefined;
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,256}$/.test(metricsToken)) {
    throw new ConfigError('METRICS_TOKEN', 'must be 16 to 256 printable characters without spaces', '<hidden>');
  }

  return {
    port,
    host,
    dataDir: path.resolve(cwd, rawDataDir),
    eventStoreConnectionString: connection,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info', (v) => v.toLowerCase()),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'auto' as LogFormat, (v) => v.toLowerCase()),
    adminToken,
    sqliteSynchronous: oneOf(env, 'SQLITE_SYNCHRONOUS', SYNCHRONOUS, 'FULL', (v) => v.toUpperCase()),
    defaultActor,
    fourEyes: oneOf(env, 'FOUR_EYES', ['on', 'off'], 'off', (v) => v.toLowerCase()) === 'on',
    reasonRequiredFor: commandList(env, 'REASON_REQUIRED_FOR'),
    authentication,
    oidc: oidcConfig(env),
    rateLimit,
    audit: auditConfig(env, cwd, path.resolve(cwd, rawDataDir)),
    metricsToken,
  };
}

/** `AUDIT_VERIFY_INTERVAL` when unset: ten minutes. */
export const DEFAULT_AUDIT_VERIFY_INTERVAL_MS = 10 * 60_000;

/** Whether `file` lies inside `dir` (as given and, where they exist, with links resolved). */
function inside(file: string, dir: string): boolean {
  const within = (f: string, d: string): boolean => {
    const relative = path.relative(d, f);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  };
  const real = (p: string): string => {
    // The nearest existing ancestor, resolved, with the rest appended.
    let head = p;
    const tail: string[] = [];
    for (;;) {
      try {
        return path.join(fs.realpathSync(head), ...tail.reverse());
      } catch {
        const parent = path.dirname(head);
        if (parent === head) return p;
        tail.push(path.basename(head));
        head = parent;
      }
    }
  };
  return within(file, dir) || within(real(file), real(dir));
}

function auditConfig(env: Env, cwd: string, dataDir: string): AuditConfig {
  const fileOutside = (variable: string): string | undefined => {
    const raw = (env[variable] ?? '').trim();
    if (raw === '') return undefined;
    const file = path.resolve(cwd, raw);
    if (inside(file, dataDir)) {
      throw new ConfigError(variable, 'must lie outside DATA_DIR (whoever can write DATA_DIR must not be able to rewrite it)', raw);
    }
    return file;
  };
  const keyFile = fileOutside('AUDIT_KEY_FILE');
  const witnessFile = fileOutside('AUDIT_WITNESS_FILE');
  const witnessUrl = (env['AUDIT_WITNESS_URL'] ?? '').trim() === '' ? undefined : httpUrl(env, 'AUDIT_WITNESS_URL');
  if (keyFile === undefined) {
    if (witnessFile !== undefined) throw new ConfigError('AUDIT_WITNESS_FILE', 'needs AUDIT_KEY_FILE (a witness keeps signed checkpoints)', env['AUDIT_WITNESS_FILE'] ?? '');
    if (witnessUrl !== undefined) throw new ConfigError('AUDIT_WITNESS_URL', 'needs AUDIT_KEY_FILE (a witness keeps signed checkpoints)', witnessUrl);
  }
  const rawInterval = (env['AUDIT_VERIFY_INTERVAL'] ?? '').trim();
  let verifyIntervalMs = DEFAULT_AUDIT_VERIFY_INTERVAL_MS;
  if (rawInterval !== '') {
    const match = /^(\d{1,7})(ms|s|m|h)?$/.exec(rawInterval);
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match?.[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    verifyIntervalMs = match ? Number(match[1]) * unit : NaN;
    if (!Number.isSafeInteger(verifyIntervalMs) || verifyIntervalMs < 1000 || verifyIntervalMs > 7 * 24 * 3_600_000) {
      throw new ConfigError('AUDIT_VERIFY_INTERVAL', 'must be a duration from 1s to 168h (e.g. 600, 30s, 10m, 1h)', rawInterval);
    }
  }
  return { keyFile, witnessFile, witnessUrl, verifyIntervalMs };
}

/** A comma- or space-separated list of command names (`StopPool, SetPersistentChatState`). */
function commandList(env: Env, variable: string): ReadonlySet<string> {
  const raw = (env[variable] ?? '').trim();
  const names = raw === '' ? [] : raw.split(/[\s,]+/).filter((n) => n !== '');
  const bad = names.find((n) => !/^[A-Z][A-Za-z]{1,63}$/.test(n));
  if (bad !== undefined) {
    throw new ConfigError(variable, `must list command names, spelt as the API spells them (e.g. StopPool,SetPersistentChatState): ${JSON.stringify(bad)} is not one`, raw);
  }
  return new Set(names);
}

/** Requests per second per principal when `RATE_LIMIT` is unset. */
export const DEFAULT_RATE_LIMIT = 300;

/** Whether `host` binds the loopback interface only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

const ROLE_NAMES = ['admin', 'operator', 'auditor', 'reader'];

function httpUrl(env: Env, variable: string): string {
  const raw = (env[variable] ?? '').trim();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, 'must be an http:// or https:// URL', raw);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(variable, 'must be an http:// or https:// URL', raw);
  return raw;
}

function oidcConfig(env: Env): OidcConfig | undefined {
  const issuer = (env['OIDC_ISSUER'] ?? '').trim();
  if (issuer === '') {
    for (const variable of ['OIDC_AUDIENCE', 'OIDC_JWKS_URL', 'OIDC_ROLE_MAP']) {
      if ((env[variable] ?? '').trim() !== '') throw new ConfigError(variable, 'needs OIDC_ISSUER', env[variable] ?? '');
    }
    return undefined;
  }
  const audience = (env['OIDC_AUDIENCE'] ?? '').trim();
  if (audience === '') throw new ConfigError('OIDC_AUDIENCE', 'is required with OIDC_ISSUER', audience);
  const rawMap = (env['OIDC_ROLE_MAP'] ?? '').trim();
  const roleMap = new Map<string, string>();
  for (const pair of rawMap.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const at = pair.lastIndexOf('=');
    const value = pair.slice(0, at).trim();
    const role = pair.slice(at + 1).trim().toLowerCase();
    if (at <= 0 || value === '' || !ROLE_NAMES.includes(role)) {
      throw new ConfigError('OIDC_ROLE_MAP', `must be claimValue=role pairs separated by commas, roles ${ROLE_NAMES.join(', ')}`, rawMap);
    }
    roleMap.set(value, role);
  }
  if (roleMap.size === 0) throw new ConfigError('OIDC_ROLE_MAP', 'is required with OIDC_ISSUER (claimValue=role, ...)', rawMap);
  const roleClaim = (env['OIDC_ROLE_CLAIM'] ?? 'roles').trim() || 'roles';
  return { issuer: httpUrl(env, 'OIDC_ISSUER'), audience, jwksUrl: httpUrl(env, 'OIDC_JWKS_URL'), roleClaim, roleMap };
}
