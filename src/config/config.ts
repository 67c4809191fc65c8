import * as path from 'node:path';
import type { Synchronous } from '../event-store/sqlite/sqlite-schema';

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** The product's configuration, parsed and validated once at start. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly eventStoreConnectionString: string | undefined;
  readonly logLevel: LogLevel;
  readonly adminToken: string | undefined;
  readonly sqliteSynchronous: Synchronous;
  /** Recorded as the actor of every change until authentication exists; marked unauthenticated. */
  readonly defaultActor: string;
  /** Four eyes: a migration's plan and its rollback wait for ApproveChange by another administrator. */
  readonly fourEyes: boolean;
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

  const defaultActor = (env['TOPO_DEFAULT_ACTOR'] ?? 'local-admin').trim();
  if (!/^[\w.@\\-]{1,128}$/.test(defaultActor)) {
    throw new ConfigError('TOPO_DEFAULT_ACTOR', 'must be 1-128 letters, digits, or . @ \\ - _', defaultActor);
  }

  return {
    port,
    host,
    dataDir: path.resolve(cwd, rawDataDir),
    eventStoreConnectionString: connection,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info', (v) => v.toLowerCase()),
    adminToken,
    sqliteSynchronous: oneOf(env, 'SQLITE_SYNCHRONOUS', SYNCHRONOUS, 'FULL', (v) => v.toUpperCase()),
    defaultActor,
    fourEyes: oneOf(env, 'FOUR_EYES', ['on', 'off'], 'off', (v) => v.toLowerCase()) === 'on',
  };
}
