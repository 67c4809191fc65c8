import * as fs from 'node:fs';
import * as path from 'node:path';
import { auditDigestProjection } from '../../projections/audit-digest/audit-digest.projection';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { ProjectionRunner } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import { readModelReference } from '../application/audit-monitor';
import { AuditKeyError, createKeyFiles, readPrivateKey, readPublicKey } from '../application/audit-signing';
import { BrokenLink, formatDigest, NOT_KEPT, LogReference, LogVerification, parseSavedDigest, verifyLog } from '../application/log-verification';
import { READ_MODELS_FILE } from '../application/read-models.module';
import { readWitnessFile, WitnessRecord } from '../application/witness';
import type { EventStore } from '../event-store/event-store';
import { ConfigError, loadConfig } from '../config/config';
import { openEventStore } from '../event-store/open-event-store';
import { StoreFileError } from '../event-store/event-store';
import { ApiError, connect } from './api-client';
import { documentForStdout, terminalBlock, terminalJson, terminalSafe as safe } from './terminal';
import { STORE_FILE_NAME } from '../event-store/open-event-store';

/** `--name value` and `--name=value` options, and `--flag` switches, out of the arguments. */
function options(argv: readonly string[], valued: readonly string[]): { values: Map<string, string>; flags: Set<string>; rest: string[] } {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      rest.push(arg);
      continue;
    }
    const name = match[1]!;
    if (valued.includes(name)) {
      const value = match[2] ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, value);
    } else if (match[2] === undefined) flags.add(name);
    else throw new UsageError(`--${name} takes no value`);
  }
  return { values, flags, rest };
}

class UsageError extends Error {}

const AUDIT_USAGE = `usage: topo audit verify [--witness FILE --public-key FILE] [--all] [--digest <position>:<hash> | --digest @file] [--json]
       topo audit verify --server URL [--token T] [--all] [--json]
       topo audit digest [--server URL] [--token T] [--json]`;
const REPORT_USAGE = 'usage: topo report compliance --from <time> --to <time> [--format json|csv|html] [--deployment NAME] [--output FILE] [--server URL] [--token T]';
const KEYS_USAGE = 'usage: topo keys create FILE   (an Ed25519 key pair for AUDIT_KEY_FILE: FILE, and its public key FILE.pub)';

/** `topo keys create FILE`: the signing key of the audit log's checkpoints. */
export function keysCommand(argv: readonly string[]): number {
  if (argv.length !== 2 || argv[0] !== 'create' || argv[1]!.startsWith('-')) {
    console.error(KEYS_USAGE);
    return 2;
  }
  try {
    const created = createKeyFiles(argv[1]!);
    console.log(`created ${created.privateFile} (private key, mode 0600: set AUDIT_KEY_FILE to it; keep it outside DATA_DIR)`);
    console.log(`created ${created.publicFile} (public key: give it to the auditors, for topo audit verify --public-key)`);
    console.log(`fingerprint: ${created.fingerprint}`);
    return 0;
  } catch (error) {
    console.error(`topo keys: ${(error as Error).message}`);
    return error instanceof AuditKeyError ? 2 : 1;
  }
}

/** One break as `topo audit verify` prints it: where, what, and each field that changed. */
export function describeBreak(b: BrokenLink): string {
  const where = [
    b.streamId !== null ? `stream ${b.streamId} revision ${String(b.revision)}` : '',
    b.position !== null ? `position ${b.position}` : '',
    b.eventType ? `event type ${b.eventType}` : '',
  ].filter((p) => p !== '');
  const lines = [`BROKEN: ${b.problem}${where.length > 0 ? ` at ${where.join(', ')}` : ''}: ${b.message}`];
  for (const change of b.changes ?? []) {
    lines.push(change.before === NOT_KEPT ? `  ${change.field}: changed, now ${show(change.after)}` : `  ${change.field}: ${show(change.before)} -> ${show(change.after)}`);
  }
  if (b.checkpoint) lines.push(`  signed checkpoint: position ${b.checkpoint.position}, digest ${b.checkpoint.digest}${b.checkpoint.time ? `, signed ${b.checkpoint.time}` : ''}`);
  return lines.join('\n');
}

function show(value: unknown): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

/** `topo audit verify` and `topo audit digest`. Resolves with the exit status: 0 verified, 1 broken, 2 usage or configuration. */
export async function auditCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(argv, ['digest', 'server', 'token', 'witness', 'public-key']);
    if (parsed.rest.length !== 1 || (parsed.rest[0] !== 'verify' && parsed.rest[0] !== 'digest')) throw new UsageError(AUDIT_USAGE);
  } catch (error) {
    console.error(error instanceof UsageError && error.message === AUDIT_USAGE ? AUDIT_USAGE : `topo audit: ${safe((error as Error).message)}\n${AUDIT_USAGE}`);
    return 2;
  }
  const json = parsed.flags.has('json');
  const token = parsed.values.get('token');
  if (parsed.rest[0] === 'verify' && parsed.values.has('server')) return verifyThroughServer(parsed.values.get('server')!, token, parsed.flags.has('all'), json);
  if (parsed.rest[0] === 'digest' && parsed.values.has('server')) {
    try {
      const connection = await connect(parsed.values.get('server'), process.env, token ?? (process.env['TOPO_TOKEN'] || undefined));
      try {
        const digest = await connection.client.query('/api/audit/digest');
        console.log(json ? terminalJson(digest) : safe(formatDigest(digest as { position: number; hash: string })));
        return 0;
      } finally {
        await connection.close();
      }
    } catch (error) {
      console.error(`topo: ${error instanceof ApiError ? `${safe(error.code)}: ` : ''}${safe((error as Error).message)}`);
      return 1;
    }
  }

  let saved: { position: number; hash: string } | undefined;
  const given = parsed.values.get('digest');
  if (given !== undefined) {
    let text = given;
    try {
      if (given.startsWith('@')) text = fs.readFileSync(given.slice(1), 'utf8');
    } catch (error) {
      console.error(`topo audit: --digest: cannot read ${safe(given.slice(1))}: ${safe((error as Error).message)}`);
      return 2;
    }
    saved = parseSavedDigest(text);
    if (saved === undefined) {
      console.error(`topo audit: --digest must be <position>:<64 hex digits>, the JSON of GET /api/audit/digest, or @file holding either (got ${safe(JSON.stringify(given.slice(0, 200)))})`);
      return 2;
    }
  }

  let store;
  let config;
  try {
    config = loadConfig();
    store = openEventStore(config);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      console.error(`topo: ${safe(error.message)}`);
      return 2;
    }
    throw error;
  }
  // The signed checkpoints: --witness with --public-key, or the server's own AUDIT_WITNESS_FILE and AUDIT_KEY_FILE.
  let witness: { file: string; record: WitnessRecord; fingerprint: string } | undefined;
  try {
    const file = parsed.values.get('witness') ?? config.audit.witnessFile;
    const keyFile = parsed.values.get('public-key');
    if (file === undefined && keyFile !== undefined) throw new UsageError('--public-key needs --witness (the file of signed checkpoints), or AUDIT_WITNESS_FILE');
    if (file !== undefined) {
      let key: { publicKey: import('node:crypto').KeyObject; fingerprint: string };
      if (keyFile !== undefined) key = readPublicKey(keyFile);
      else if (config.audit.keyFile !== undefined) key = readPrivateKey(config.audit.keyFile);
      else throw new UsageError('--witness needs --public-key (the public key that signs the checkpoints), or AUDIT_KEY_FILE');
      let record: WitnessRecord;
      try {
        record = readWitnessFile(file, key.publicKey, key.fingerprint);
      } catch (error) {
        throw new UsageError(`cannot read the witness ${file}: ${(error as Error).message}`);
      }
      witness = { file, record, fingerprint: key.fingerprint };
    }
  } catch (error) {
    await store.close();
    if (error instanceof UsageError || error instanceof AuditKeyError) {
      console.error(`topo audit: ${safe(error.message)}`);
      return 2;
    }
    throw error;
  }
  const reference = witness !== undefined ? openReference(store, config.dataDir) : undefined;
  try {
    const started = performance.now();
    const tty = process.stderr.isTTY === true && !json;
    const result = await verifyLog(store, {
      ...(saved !== undefined ? { digest: saved } : {}),
      ...(witness !== undefined ? { checkpoints: witness.record.checkpoints, rejectedCheckpoints: witness.record.rejected } : {}),
      ...(reference !== undefined ? { reference: reference.reference } : {}),
      all: parsed.flags.has('all'),
      onProgress: (events) => {
        if (tty) process.stderr.write(`\rverifying: ${events.toLocaleString('en')} events`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const seconds = (performance.now() - started) / 1000;
    if (parsed.rest[0] === 'digest') {
      console.log(json ? terminalJson(result.digest) : formatDigest(result.digest));
      return result.broken ? 1 : 0;
    }
    if (json) {
      console.log(terminalJson({ ok: result.broken === null, ...result, ...(witness ? { witness: witness.file, key: witness.fingerprint } : {}), seconds: +seconds.toFixed(3) }));
    } else if (result.broken) {
      for (const b of result.breaks) console.error(terminalBlock(describeBreak(b)));
      if (parsed.flags.has('all')) console.error(`${result.breaks.length} break(s) in ${result.events.toLocaleString('en')} events`);
      else console.error(`checked ${result.events.toLocaleString('en')} events up to it (--all: report every break)`);
    } else {
      const unchained = result.unchained > 0 ? ` (${result.unchained.toLocaleString('en')} unchained: written before the hash chain)` : '';
      console.log(`verified ${result.events.toLocaleString('en')} events${unchained} in ${seconds.toFixed(1)} s`);
      if (saved !== undefined) console.log(`digest at position ${saved.position} matches`);
      if (witness !== undefined) {
        const latest = result.checkpoints.latest;
        console.log(
          `against ${result.checkpoints.checked.toLocaleString('en')} signed checkpoint(s) of ${witness.file} (key ${witness.fingerprint})` +
            (latest ? `; the latest at position ${latest.position}, signed ${latest.time ?? '?'}` : '; it holds none yet'),
        );
        if (result.unsigned > 0) console.log(`${result.unsigned.toLocaleString('en')} event(s) after the latest signed checkpoint: not yet covered by a signature`);
      } else {
        console.error('warning: not checked against signed checkpoints (no --witness, no AUDIT_WITNESS_FILE): the hash chain alone does not show an edit whose hashes were recomputed');
      }
      console.log(`digest: ${formatDigest(result.digest)}`);
    }
    return result.broken ? 1 : 0;
  } finally {
    await reference?.close();
    await store.close();
  }
}

/**
 * The read models' copy of the log (DATA_DIR's read-models file, opened read-only), to name the
 * event and fields behind a break; undefined when there is none to open.
 */
function openReference(store: EventStore, dataDir: string): { reference: LogReference; close(): Promise<void> } | undefined {
  const file = path.join(dataDir, READ_MODELS_FILE);
  if (!fs.existsSync(file)) return undefined;
  let db: ReturnType<typeof openReadModelDatabase> | undefined;
  let queryDb: ReturnType<typeof openReadModelDatabase> | undefined;
  try {
    db = openReadModelDatabase(file, true);
    // As the server reads them: the audit trail's entries with the SQLite log attached.
    const logFile = path.join(dataDir, STORE_FILE_NAME);
    const attachLog = store.kind === 'sqlite' && fs.existsSync(logFile);
    if (attachLog) {
      queryDb = openReadModelDatabase(file, true);
      queryDb.prepare('ATTACH DATABASE ? AS log').run(logFile);
    }
    const runner = new ProjectionRunner(store, db, [auditDigestProjection, auditTrailProjection], attachLog ? { queryDb: queryDb!, logSchema: 'log' } : {});
    const opened = [db, ...(queryDb ? [queryDb] : [])];
    return {
      reference: readModelReference(runner),
      close: async () => {
        for (const connection of opened) connection.close();
      },
    };
  } catch {
    queryDb?.close();
    db?.close();
    return undefined;
  }
}

/** `topo audit verify --server URL`: the server's own verification (`GET /api/audit/verify`), with its progress. */
async function verifyThroughServer(server: string, token: string | undefined, all: boolean, json: boolean): Promise<number> {
  const credential = token ?? (process.env['TOPO_TOKEN'] || undefined);
  const url = new URL(`/api/audit/verify${all ? '?all=true' : ''}`, server);
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'text/event-stream', ...(credential !== undefined ? { authorization: `Bearer ${credential}` } : {}) } });
  } catch (error) {
    console.error(`topo: cannot reach ${safe(server)}: ${safe((error as Error).message)}`);
    return 1;
  }
  if (!response.ok || response.body === null) {
    const text = await response.text();
    let message = text;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      message = `${body.error?.code ?? response.status}: ${body.error?.message ?? text}`;
    } catch {
      // not JSON
    }
    console.error(`topo: ${safe(message)}`);
    return 1;
  }
  const tty = process.stderr.isTTY === true && !json;
  let buffer = '';
  let verdict: (LogVerification & { ok: boolean }) | undefined;
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(message)?.[1] ?? 'message';
      const data = message
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (event === 'progress' && tty) process.stderr.write(`\rverifying: ${(JSON.parse(data) as { events: number }).events.toLocaleString('en')} events`);
      if (event === 'verdict') verdict = JSON.parse(data) as LogVerification & { ok: boolean };
    }
  }
  if (tty) process.stderr.write('\r\x1b[K');
  if (verdict === undefined) {
    console.error('topo: the server closed the verification without a verdict');
    return 1;
  }
  if (json) console.log(terminalJson(verdict));
  else if (verdict.broken !== null) for (const b of verdict.breaks) console.error(terminalBlock(describeBreak(b)));
  else {
    console.log(`verified ${verdict.events.toLocaleString('en')} events on the server`);
    const latest = verdict.checkpoints.latest;
    if (latest) console.log(`against its witness's latest signed checkpoint: position ${latest.position}${latest.time ? `, signed ${latest.time}` : ''}`);
    console.log(`digest: ${formatDigest(verdict.digest)}`);
  }
  return verdict.broken !== null ? 1 : 0;
}

/** `topo report compliance`: the compliance report of a period, through the API (the server's, or this process's). */
export async function reportCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(argv, ['from', 'to', 'format', 'deployment', 'output', 'server', 'token']);
    if (parsed.rest.length !== 1 || parsed.rest[0] !== 'compliance') throw new UsageError('');
  } catch (error) {
    const message = (error as Error).message;
    console.error(message ? `topo report: ${safe(message)}\n${REPORT_USAGE}` : REPORT_USAGE);
    return 2;
  }
  const format = parsed.values.get('format') ?? 'json';
  const params = new URLSearchParams();
  for (const name of ['from', 'to', 'deployment'] as const) {
    const value = parsed.values.get(name);
    if (value !== undefined) params.set(name, value);
  }
  params.set('format', format);
  let connection: Awaited<ReturnType<typeof connect>>;
  try {
    connection = await connect(parsed.values.get('server'), process.env, parsed.values.get('token') ?? (process.env['TOPO_TOKEN'] || undefined));
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      console.error(`topo: ${safe(error.message)}`);
      return 2;
    }
    throw error;
  }
  try {
    // Every write so far is in the report's read models before it is read.
    const head = await connection.client.headPosition();
    if (head !== undefined) params.set('minPosition', String(head));
    let body: string;
    try {
      body = await connection.client.text(`/api/compliance/report?${params.toString()}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      console.error(`topo: ${safe(error.code)}: ${safe(error.message)}`);
      return 1;
    }
    const output = parsed.values.get('output');
    if (output !== undefined) fs.writeFileSync(output, body);
    else process.stdout.write(documentForStdout(body.endsWith('\n') ? body : `${body}\n`));
    return 0;
  } catch (error) {
    console.error(`topo: ${safe((error as Error).message)}`);
    return 1;
  } finally {
    await connection.close();
  }
}
