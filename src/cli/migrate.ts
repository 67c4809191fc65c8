import * as fs from 'node:fs';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { ApiClient, ApiError, Connection } from './api-client';
import type { GlobalOptions } from './cmdlets';
import { renderError } from './cmdlets';
import { type LongOptions, parseLongOptions } from './long-options';
import { documentForStdout, terminalBlock, terminalError, terminalJson, terminalJsonText, terminalSafe } from './terminal';

export const MIGRATE_USAGE = `usage: topo migrate <subcommand>

  plan --legacy FQDN --target FQDN [--export-file PATH] [--level All|User|Category|RoomDirectory|Content]
       [--scope TEXT] [--categories-file FILE] [--display-name NAME] [--runbook FILE.ps1] [--record]
                       the plan (preconditions, steps, what is not migrated) without changing anything;
                       --runbook writes the PowerShell runbook; --record stores the plan (needs --reason)
                       and prints the migration id
  run <id>             run every remaining step
  step <id>            run the next step
  fail <id> --reason TEXT [--step N]
                       report that the next step failed outside the product
  rollback <id> --reason TEXT [--force]
                       undo the completed steps, last first; --force rolls back what can be despite conflicts
  approve <id> [--reject] [--reason TEXT]
                       four eyes (FOUR_EYES=on): approve or reject another administrator's plan or rollback
  status [<id>]        one migration with its steps, or all migrations of the deployment
  runbook <id>         print the migration's PowerShell runbook

Options: --server URL, --json, --reason TEXT (or TOPO_REASON), --deployment NAME`;

type Parsed = LongOptions;

const VALUE_FLAGS = ['legacy', 'target', 'export-file', 'level', 'scope', 'categories-file', 'display-name', 'runbook', 'step'];
const SWITCHES = ['record', 'force', 'reject'];

function parse(argv: readonly string[]): Parsed {
  return parseLongOptions(argv, VALUE_FLAGS, SWITCHES, (name) => `unknown option --${name}`);
}

function value(parsed: Parsed, name: string): string | undefined {
  const found = parsed.flags.get(name);
  return typeof found === 'string' ? found : undefined;
}

function required(parsed: Parsed, name: string): string {
  const found = value(parsed, name);
  if (found === undefined) throw new Error(`--${name} is required`);
  return found;
}

function idOf(parsed: Parsed, subcommand: string): string {
  const [id] = parsed.positional;
  if (id === undefined) throw new Error(`topo migrate ${subcommand} needs a migration id`);
  return id;
}

type Output = { stdout: string; json: JsonValue };

/** `topo migrate ...`; resolves with the exit status. */
export async function runMigrate(argv: readonly string[], options: GlobalOptions, open: () => Promise<Connection>): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === undefined || subcommand === '--help' || subcommand === 'help') {
    console.log(MIGRATE_USAGE);
    return subcommand === undefined ? 2 : 0;
  }
  let parsed: Parsed;
  try {
    parsed = parse(rest);
    if (!['plan', 'run', 'step', 'fail', 'rollback', 'approve', 'status', 'runbook'].includes(subcommand)) throw new Error(`unknown subcommand '${subcommand}'`);
  } catch (error) {
    console.error(`topo migrate: ${terminalSafe((error as Error).message)}\n\n${MIGRATE_USAGE}`);
    return 2;
  }
  const connection = await open();
  try {
    const output = await execute(subcommand, parsed, options, connection.client);
    console.log(options.json ? terminalJson(output.json, 2) : output.stdout);
    return 0;
  } catch (error) {
    const text = error instanceof ApiError || options.json ? renderError(options.json ? error : terminalError(error), undefined, options.json) : `topo migrate: ${terminalSafe((error as Error).message)}`;
    if (options.json) console.log(terminalJsonText(text));
    else console.error(terminalBlock(text));
    return error instanceof ApiError ? 1 : 2;
  } finally {
    await connection.close();
  }
}

async function execute(subcommand: string, parsed: Parsed, options: GlobalOptions, client: ApiClient): Promise<Output> {
  const deployment = options.deployment ? { deployment: options.deployment } : {};
  const send = async (name: string, body: JsonObject, whatIf = false): Promise<JsonObject> =>
    (await client.command(name, { ...deployment, ...body }, { whatIf, reason: options.reason })) as unknown as JsonObject;
  const detail = async (id: string, minPosition: JsonValue | undefined): Promise<JsonObject> =>
    client.query(`/api/migrations/${encodeURIComponent(id)}`, typeof minPosition === 'number' && minPosition > 0 ? { minPosition } : {});

  switch (subcommand) {
    case 'plan': {
      const categoriesFile = value(parsed, 'categories-file');
      const body: JsonObject = {
        legacyPoolFqdn: required(parsed, 'legacy'),
        targetPoolFqdn: required(parsed, 'target'),
        ...optional('exportFileName', value(parsed, 'export-file')),
        ...optional('exportLevel', value(parsed, 'level')),
        ...optional('exportScope', value(parsed, 'scope')),
        ...optional('endpointDisplayName', value(parsed, 'display-name')),
        ...(categoriesFile
          ? { categories: fs.readFileSync(categoriesFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#')) }
          : {}),
      };
      const record = parsed.flags.get('record') === true;
      const result = await send('MigratePool', body, !record);
      const runbookFile = value(parsed, 'runbook');
      if (runbookFile && typeof result['runbook'] === 'string') fs.writeFileSync(runbookFile, result['runbook']);
      return { stdout: renderPlan(result, record, runbookFile), json: result };
    }
    case 'run':
    case 'step': {
      const id = idOf(parsed, subcommand);
      const result = await send('RunMigration', { migrationId: id, ...(subcommand === 'step' ? { steps: 1 } : {}) });
      const shown = await detail(id, result['position']);
      return { stdout: `${renderRan(result)}\n\n${renderMigration(shown)}`, json: { result, migration: shown } };
    }
    case 'fail': {
      const id = idOf(parsed, subcommand);
      const step = value(parsed, 'step');
      const result = await send('FailMigrationStep', { migrationId: id, ...(step !== undefined ? { step: Number(step) } : {}) });
      const shown = await detail(id, result['position']);
      return { stdout: renderMigration(shown), json: { result, migration: shown } };
    }
    case 'rollback': {
      const id = idOf(parsed, subcommand);
      const result = await send('RollbackMigration', { migrationId: id, ...(parsed.flags.get('force') === true ? { force: true } : {}) });
      const shown = await detail(id, result['position']);
      const notCompensated = Array.isArray(result['notCompensated']) ? result['notCompensated'] : [];
      const head =
        result['approvalRequired'] === true && result['status'] !== 'RolledBack'
          ? `Rollback of migration ${text(id)} requested; it runs once another administrator approves it (topo migrate approve ${text(id)}) and it is sent again`
          : `Rolled back migration ${text(id)}${notCompensated.length > 0 ? `; NOT compensated (forced): steps ${notCompensated.map(text).join(', ')}` : ''}`;
      return { stdout: `${head}\n\n${renderMigration(shown)}`, json: { result, migration: shown } };
    }
    case 'approve': {
      const id = idOf(parsed, subcommand);
      const decision = parsed.flags.get('reject') === true ? 'reject' : 'approve';
      const result = await send('ApproveChange', { migrationId: id, decision });
      const shown = await detail(id, result['position']);
      return { stdout: `${decision === 'approve' ? 'Approved' : 'Rejected'} for migration ${text(id)}\n\n${renderMigration(shown)}`, json: { result, migration: shown } };
    }
    case 'status': {
      const [id] = parsed.positional;
      if (id !== undefined) {
        const shown = await detail(id, undefined);
        return { stdout: renderMigration(shown), json: shown };
      }
      const head = await client.headPosition();
      const list = await client.query('/api/migrations', { ...deployment, ...(head !== undefined ? { minPosition: head } : {}) });
      return { stdout: renderList(list), json: list };
    }
    default: {
      const id = idOf(parsed, subcommand);
      const head = await client.headPosition();
      const shown = await detail(id, head);
      const runbook = await client.text(`/api/migrations/${encodeURIComponent(String(shown['migrationId']))}/runbook`);
      return { stdout: documentForStdout(runbook), json: { migrationId: shown['migrationId'] ?? id, runbook } };
    }
  }
}

function optional(key: string, value: string | undefined): JsonObject {
  return value === undefined ? {} : { [key]: value };
}

const array = (value: JsonValue | undefined): JsonValue[] => (Array.isArray(value) ? value : []);
const object = (value: JsonValue | undefined): JsonObject => (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {});
/** Every value of an answer is printed through this: safe for a terminal. */
const text = (value: JsonValue | undefined): string => terminalSafe(value);

function renderPlan(result: JsonObject, recorded: boolean, runbookFile: string | undefined): string {
  const plan = object(result['plan']);
  const lines = [
    recorded ? `Migration ${text(result['migrationId'])} planned (nothing runs until: topo migrate run ${text(result['migrationId'])})` : 'Plan (nothing changed):',
    ...(recorded && result['approvalRequired'] === true ? [`  Four eyes: another administrator must approve it first (topo migrate approve ${text(result['migrationId'])})`] : []),
    `  ${text(plan['legacyPoolFqdn'])} (${text(plan['legacyVersion'])}) -> ${text(plan['targetPoolFqdn'])}; well-known SIP URI ${text(plan['wellKnownSipAddress'])}`,
    '',
    'Preconditions:',
    ...array(plan['preconditions']).map((p) => {
      const c = object(p);
      return `  [${c['holds'] ? 'ok' : 'FAILED'}] ${text(c['rule'])} ${text(c['description'])}${c['reason'] ? `: ${text(c['reason'])}` : ''}`;
    }),
    '',
    'Steps:',
    ...array(plan['steps']).map((s) => {
      const step = object(s);
      const events = array(step['events']).map((e) => text(object(e)['type']));
      return `  ${text(step['step'])}. ${text(step['title'])}${step['offlineWindow'] ? ' (offline window)' : ''}${events.length > 0 ? `  -> ${events.join(', ')}` : ''}`;
    }),
    '',
    'Not migrated or changed on the way:',
    ...array(plan['notMigrated']).map((m) => `  - ${text(object(m)['rule'])}: ${text(object(m)['description'])}`),
  ];
  const placeholders = array(plan['placeholders']);
  if (placeholders.length > 0) lines.push('', 'Runbook placeholders:', ...placeholders.map((p) => `  <<${text(object(p)['name'])}>>: ${text(object(p)['description'])}`));
  if (runbookFile) lines.push('', `Runbook written to ${terminalSafe(runbookFile)}`);
  return lines.join('\n');
}

function renderRan(result: JsonObject): string {
  const steps = array(result['steps']);
  return steps.length > 0 ? `Ran step(s) ${steps.map(text).join(', ')} of migration ${text(result['migrationId'])}: now ${text(result['status'])}` : `Nothing to run: ${text(result['status'])}`;
}

/** One migration with its steps, as `topo migrate status <id>` shows it. */
export function renderMigration(m: JsonObject): string {
  const lines = [
    `Migration ${text(m['migrationId'])}  ${text(m['legacyPoolFqdn'])} -> ${text(m['targetPoolFqdn'])}  ${text(m['status'])}`,
    `  planned ${text(m['plannedAt'])} by ${text(m['plannedBy'])}${m['reason'] ? `: ${text(m['reason'])}` : ''}`,
  ];
  const rollback = object(m['rollback']);
  if (rollback['reason']) lines.push(`  rollback by ${text(rollback['by'])}${rollback['forced'] ? ' (forced)' : ''}: ${text(rollback['reason'])}`);
  lines.push('');
  for (const s of array(m['steps'])) {
    const step = object(s);
    const events = array(step['events']).map((e) => `${text(object(e)['type'])}@r${text(object(e)['revision'])}`);
    const when = step['completedAt'] ? `  ${text(step['completedAt'])} ${text(step['completedBy'])}` : '';
    lines.push(`  ${text(step['step'])}. ${text(step['title']).padEnd(72)} ${text(step['state']).padEnd(14)}${when}${events.length > 0 ? `  ${events.join(', ')}` : ''}`);
    const failure = object(step['failure']);
    if (failure['reason']) lines.push(`       failed: ${text(failure['reason'])}`);
    const compensation = object(step['compensation']);
    if (compensation['command'] || compensation['error']) {
      const error = object(compensation['error']);
      lines.push(`       compensation: ${text(compensation['command']) || 'none needed'}${error['message'] ? ` NOT applied: ${text(error['message'])}` : ''}`);
    }
  }
  const continuity = object(m['continuity']);
  if (continuity['message']) lines.push('', `Continuity (R16): ${text(continuity['message'])}`);
  return lines.join('\n');
}

function renderList(list: JsonObject): string {
  const migrations = array(list['migrations']);
  if (migrations.length === 0) return `No migrations in deployment ${text(list['deployment'])}.`;
  return migrations
    .map((x) => {
      const m = object(x);
      return `${text(m['migrationId'])}  ${text(m['status']).padEnd(11)} ${text(m['legacyPoolFqdn'])} -> ${text(m['targetPoolFqdn'])}  planned ${text(m['plannedAt'])} by ${text(m['plannedBy'])}${m['nextStep'] ? `  next step ${text(m['nextStep'])}` : ''}`;
    })
    .join('\n');
}
