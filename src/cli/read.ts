import type { JsonObject, JsonValue } from '../event-store/event-store';
import { ApiError, Connection } from './api-client';
import type { GlobalOptions } from './cmdlets';
import { renderError } from './cmdlets';
import { parseLongOptions } from './long-options';
import { terminalBlock, terminalError, terminalJson, terminalJsonText, terminalSafe } from './terminal';

/**
 * The read side from the command line: `topo history`, `topo diff`, `topo audit`, `topo projections
 * status`. Each is one query of the API, rendered for a terminal or, with `--json`, as the API answers.
 */

export const READ_USAGE = `  history (--as-of TIME | --at-position N)   the topology at that moment
  diff --from TIME|POSITION [--to TIME|POSITION]
                                            what was added, removed and changed between two moments
  audit [--actor A] [--entity KIND:ID] [--command C] [--from TIME] [--to TIME] [--outcome accepted|refused] [--limit N]
                                            the audit trail, newest first
  projections status                        each projection's checkpoint, lag and state`;

const FLAGS: Record<string, readonly string[]> = {
  history: ['as-of', 'at-position'],
  diff: ['from', 'to'],
  audit: ['actor', 'entity', 'command', 'from', 'to', 'outcome', 'limit', 'cursor'],
  projections: [],
};

function parseFlags(subcommand: string, argv: readonly string[]): { flags: Map<string, string>; positional: string[] } {
  const allowed = FLAGS[subcommand] ?? [];
  const { flags, positional } = parseLongOptions(argv, allowed, [], (name) => `unknown option --${name}; ${subcommand} takes ${allowed.map((f) => `--${f}`).join(', ') || 'no options'}`);
  return { flags: new Map([...flags].filter((entry): entry is [string, string] => typeof entry[1] === 'string')), positional };
}

/** `topo history|diff|audit|projections status`; resolves with the exit status. */
export async function runRead(subcommand: string, argv: readonly string[], options: GlobalOptions, open: () => Promise<Connection>): Promise<number> {
  let parsed: { flags: Map<string, string>; positional: string[] };
  try {
    parsed = parseFlags(subcommand, argv);
    if (subcommand === 'history' && parsed.flags.has('as-of') === parsed.flags.has('at-position')) throw new Error('history needs exactly one of --as-of TIME and --at-position N');
    if (subcommand === 'diff' && !parsed.flags.has('from')) throw new Error('diff needs --from TIME|POSITION');
    if (subcommand === 'projections' && parsed.positional[0] !== 'status') throw new Error('usage: topo projections status|rebuild [name]');
  } catch (error) {
    console.error(`topo ${subcommand}: ${terminalSafe((error as Error).message)}`);
    return 2;
  }
  const connection = await open();
  try {
    const { client } = connection;
    const deployment = options.deployment;
    const head = await client.headPosition();
    const fresh = head !== undefined ? { minPosition: head } : {};
    const flag = (name: string): string | undefined => parsed.flags.get(name);
    let answer: JsonObject;
    let text: string;
    switch (subcommand) {
      case 'history':
        answer = await client.query('/api/topology', { deployment, asOf: flag('as-of'), atPosition: flag('at-position'), ...fresh });
        text = renderTopology(answer);
        break;
      case 'diff':
        answer = await client.query('/api/topology/diff', { deployment, from: flag('from'), to: flag('to'), ...fresh });
        text = renderDiff(answer);
        break;
      case 'audit':
        answer = await client.query('/api/audit', {
          deployment,
          actor: flag('actor'),
          entity: flag('entity'),
          command: flag('command'),
          from: flag('from'),
          to: flag('to'),
          outcome: flag('outcome'),
          limit: flag('limit'),
          cursor: flag('cursor'),
          ...fresh,
        });
        // Without --deployment the trail of every deployment: each line names its own.
        text = renderAudit(answer, deployment === undefined);
        break;
      default:
        answer = await client.query('/api/projections');
        text = renderProjections(answer);
    }
    console.log(options.json ? terminalJson(answer, 2) : text);
    return 0;
  } catch (error) {
    const message = renderError(options.json ? error : terminalError(error), undefined, options.json);
    if (options.json) console.log(terminalJsonText(message));
    else console.error(terminalBlock(message));
    return error instanceof ApiError ? 1 : 2;
  } finally {
    await connection.close();
  }
}

const list = (value: JsonValue | undefined): JsonObject[] => (Array.isArray(value) ? (value.filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v)) as JsonObject[]) : []);
/** Every value read from the store is printed through this: `-` when absent, else safe for a terminal. */
const str = (value: JsonValue | undefined): string => (value === null || value === undefined ? '-' : terminalSafe(value));

function renderTopology(t: JsonObject): string {
  const lines = [`Deployment ${str(t['deployment'])} at position ${str(t['position'])}`, ''];
  lines.push('SIP domains:', ...list(t['sipDomains']).map((d) => `  ${str(d['domain'])}${d['isDefault'] ? ' (default)' : ''}`));
  lines.push('Legacy Group Chat pools:');
  for (const p of list(t['legacyPools'])) {
    const user = p['wellKnownUser'] as JsonObject | null;
    lines.push(`  ${str(p['fqdn'])} ${str(p['version'])} ${str(p['status'])}  well-known user ${user ? str(user['sipAddress']) : `(deleted; was ${str(p['wellKnownSipAddress'])})`}${p['dataMigratedTo'] ? `  data migrated to ${str(p['dataMigratedTo'])}` : ''}`);
  }
  lines.push('Persistent Chat pools:');
  for (const p of list(t['persistentChatPools'])) {
    const servers = list(p['servers']).map((s) => `${str(s['fqdn'])}${s['active'] ? '*' : ''}`);
    lines.push(`  ${str(p['fqdn'])} ${str(p['status'])} ${str(p['state'])}  servers ${servers.join(', ')} (* active)  endpoints ${str(p['endpointCount'])}`);
  }
  lines.push('Endpoints:', ...list(t['endpoints']).map((e) => `  ${str(e['sipAddress'])} -> ${str(e['poolFqdn'])}${e['displayName'] ? `  '${str(e['displayName'])}'` : ''}`));
  lines.push('Principals:', ...list(t['principals']).map((p) => `  ${str(p['sipAddress'])} ${str(p['kind'])}${p['legacyPoolFqdn'] ? ` -> ${str(p['legacyPoolFqdn'])}` : ''}`));
  return lines.join('\n');
}

function renderDiff(d: JsonObject): string {
  const from = d['from'] as JsonObject;
  const to = d['to'] as JsonObject;
  const lines = [`Deployment ${str(d['deployment'])}: position ${str(from?.['position'])} -> ${str(to?.['position'])}`];
  for (const a of list(d['added'])) lines.push(`+ ${str(a['entity'])} ${str(a['key'])}`);
  for (const r of list(d['removed'])) lines.push(`- ${str(r['entity'])} ${str(r['key'])}`);
  for (const c of list(d['changed'])) {
    const before = c['before'] as JsonObject;
    const after = c['after'] as JsonObject;
    const fields = Array.isArray(c['fields']) ? (c['fields'] as string[]) : [];
    lines.push(`~ ${str(c['entity'])} ${str(c['key'])}: ${fields.map((f) => `${terminalSafe(f)} ${str(before[f])} -> ${str(after[f])}`).join('; ')}`);
  }
  if (lines.length === 1) lines.push('no differences');
  return lines.join('\n');
}

function renderAudit(page: JsonObject, everyDeployment = false): string {
  const lines = list(page['entries']).map((e) => {
    const entity = e['entity'] as JsonObject | null;
    const error = e['error'] as JsonObject | undefined;
    return [
      str(e['occurredAt']),
      `#${str(e['position'])}`,
      ...(everyDeployment ? [`[${str(e['deployment'])}]`] : []),
      str(e['actor']),
      e['outcome'] === 'refused' ? `REFUSED ${str(e['command'])} ${error ? str(error['code']) : ''}` : `${str(e['type'])}`,
      entity ? `${str(entity['kind'])}:${str(entity['id'])}` : '',
      e['reason'] ? `"${str(e['reason'])}"` : '',
      e['migrationId'] ? `migration ${str(e['migrationId'])}` : '',
    ]
      .filter((part) => part !== '')
      .join('  ');
  });
  if (page['nextCursor']) lines.push(`(more: --cursor ${str(page['nextCursor'])})`);
  return lines.length > 0 ? lines.join('\n') : 'no entries';
}

function renderProjections(answer: JsonObject): string {
  return list(answer['projections'])
    .map((p) => `${str(p['name']).padEnd(20)} ${str(p['state']).padEnd(12)} checkpoint ${str(p['checkpoint'])}/${str(p['headPosition'])}  lag ${str(p['lagEvents'])} events, ${str(p['lagMs'])} ms`)
    .join('\n');
}
