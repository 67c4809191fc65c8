import * as fs from 'node:fs';
import { formatDigest, parseSavedDigest, verifyLog } from '../application/log-verification';
import { ConfigError, loadConfig } from '../config/config';
import { openEventStore } from '../event-store/open-event-store';
import { StoreFileError } from '../event-store/event-store';
import { ApiError, connect } from './api-client';
import { documentForStdout, terminalJson, terminalSafe as safe } from './terminal';

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

const AUDIT_USAGE = `usage: topo audit verify [--digest <position>:<hash> | --digest @file] [--json]
       topo audit digest [--server URL] [--json]`;
const REPORT_USAGE = 'usage: topo report compliance --from <time> --to <time> [--format json|csv|html] [--deployment NAME] [--output FILE] [--server URL]';

/** `topo audit verify` and `topo audit digest`. Resolves with the exit status: 0 verified, 1 broken, 2 usage or configuration. */
export async function auditCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(argv, ['digest', 'server']);
    if (parsed.rest.length !== 1 || (parsed.rest[0] !== 'verify' && parsed.rest[0] !== 'digest')) throw new UsageError(AUDIT_USAGE);
  } catch (error) {
    console.error(error instanceof UsageError && error.message === AUDIT_USAGE ? AUDIT_USAGE : `topo audit: ${safe((error as Error).message)}\n${AUDIT_USAGE}`);
    return 2;
  }
  const json = parsed.flags.has('json');
  if (parsed.rest[0] === 'digest' && parsed.values.has('server')) {
    try {
      const connection = await connect(parsed.values.get('server'));
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
  try {
    store = openEventStore(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      console.error(`topo: ${safe(error.message)}`);
      return 2;
    }
    throw error;
  }
  try {
    const started = performance.now();
    const tty = process.stderr.isTTY === true && !json;
    const result = await verifyLog(store, {
      ...(saved !== undefined ? { digest: saved } : {}),
      onProgress: (events) => {
        if (tty) process.stderr.write(`\rverifying: ${events.toLocaleString('en')} events`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const seconds = (performance.now() - started) / 1000;
    if (parsed.rest[0] === 'digest') {
      console.log(json ? JSON.stringify(result.digest) : formatDigest(result.digest));
      return result.broken ? 1 : 0;
    }
    if (json) {
      console.log(terminalJson({ ok: result.broken === null, ...result, seconds: +seconds.toFixed(3) }));
    } else if (result.broken) {
      const b = result.broken;
      console.error(
        `BROKEN: ${safe(b.problem)}${b.streamId !== null ? ` at stream ${safe(b.streamId)} revision ${safe(b.revision)}` : ''}${b.position !== null ? ` (position ${safe(b.position)})` : ''}: ${safe(b.message)}`,
      );
      console.error(`checked ${result.events.toLocaleString('en')} events before it`);
    } else {
      const unchained = result.unchained > 0 ? ` (${result.unchained.toLocaleString('en')} unchained: written before the hash chain)` : '';
      console.log(`verified ${result.events.toLocaleString('en')} events${unchained} in ${seconds.toFixed(1)} s`);
      if (saved !== undefined) console.log(`digest at position ${saved.position} matches`);
      console.log(`digest: ${formatDigest(result.digest)}`);
    }
    return result.broken ? 1 : 0;
  } finally {
    await store.close();
  }
}

/** `topo report compliance`: the compliance report of a period, through the API (the server's, or this process's). */
export async function reportCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(argv, ['from', 'to', 'format', 'deployment', 'output', 'server']);
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
    connection = await connect(parsed.values.get('server'));
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreFileError) {
      console.error(`topo: ${error.message}`);
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
