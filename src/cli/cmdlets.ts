import * as readline from 'node:readline';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { ApiClient, ApiError, CommandResult } from './api-client';
import {
  bind,
  BoundParameters,
  CmdletError,
  CmdletLine,
  CmdletSpec,
  CmdletValue,
  ParameterSpec,
  resolveCmdlet,
  showValue,
  syntaxOf,
} from './cmdlet-parser';

/** The global options of a cmdlet line or script: `--server`, `--json`, `--reason`, `--deployment`. */
export interface GlobalOptions {
  readonly server?: string | undefined;
  /** An API token or OIDC JWT (`--token`, default `TOPO_TOKEN`). */
  readonly token?: string | undefined;
  readonly json: boolean;
  readonly reason?: string | undefined;
  readonly deployment?: string | undefined;
}

/** A line bound to its cmdlet, ready to run: a command of the API or a query. */
export type PreparedCmdlet =
  | {
      readonly kind: 'command';
      readonly cmdlet: string;
      /** The API command (`POST /api/commands/<name>`). */
      readonly command: string;
      readonly body: JsonObject;
      readonly target: string;
      readonly whatIf: boolean;
      readonly confirm: boolean;
      /** After success, the objects to show (`-PassThru`). */
      readonly passThru?: (client: ApiClient, result: CommandResult) => Promise<Shown>;
    }
  | {
      readonly kind: 'query';
      readonly cmdlet: string;
      run(client: ApiClient, minPosition: number | undefined): Promise<Shown>;
    };

/** What a cmdlet shows: objects in the list view, and their JSON for `--json`. */
export interface Shown {
  readonly objects: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly json: JsonValue;
}

interface CmdletDefinition extends CmdletSpec {
  prepare(parameters: BoundParameters, options: GlobalOptions): PreparedCmdlet;
}

const WHAT_IF: ParameterSpec = { name: 'WhatIf', type: 'switch' };
const CONFIRM: ParameterSpec = { name: 'Confirm', type: 'switch' };
const NOT_MODELLED = 'the product keeps the topology, not Active Directory; filter with -Identity, -PersistentChatPoolFqdn or -Filter.';

function text(parameters: BoundParameters, name: string): string | undefined {
  const value = parameters.get(name);
  return value === undefined || value === null ? undefined : typeof value === 'string' ? value : showValue(value);
}

function flag(parameters: BoundParameters, name: string): boolean {
  return parameters.get(name) === true;
}

function withDeployment(body: JsonObject, options: GlobalOptions): JsonObject {
  return options.deployment !== undefined ? { ...body, deployment: options.deployment } : body;
}

/** `PersistentChatServer:<fqdn>`, `service:PersistentChatServer:<fqdn>` or the bare FQDN: the pool's FQDN. */
export function poolFqdnOf(identity: string): string {
  return identity.trim().replace(/^service:/i, '').replace(/^PersistentChatServer:/i, '');
}

type DirectoryEntry = { sipAddress: string; poolFqdn: string; displayName: string | null; distinguishedName: string | null };

function endpointObject(entry: DirectoryEntry): Record<string, unknown> {
  return {
    Identity: entry.distinguishedName ?? entry.sipAddress,
    SipAddress: entry.sipAddress,
    DisplayName: entry.displayName,
    PersistentChatPoolFqdn: entry.poolFqdn,
  };
}

async function findEndpoints(client: ApiClient, params: Record<string, string | number | undefined>): Promise<DirectoryEntry[]> {
  const answer = (await client.query('/api/endpoints', params)) as { endpoints?: DirectoryEntry[] };
  return answer.endpoints ?? [];
}

/** Strings of an `@{Add=...}` entry or a list. */
function strings(value: CmdletValue): string[] {
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : showValue(v)));
  return [typeof value === 'string' ? value : showValue(value)];
}

const DEFINITIONS: readonly CmdletDefinition[] = [
  {
    name: 'New-CsPersistentChatEndpoint',
    parameters: [
      { name: 'SipAddress', type: 'string', required: true },
      { name: 'PersistentChatPoolFqdn', type: 'string', required: true },
      { name: 'DisplayName', type: 'string' },
      { name: 'PassThru', type: 'switch' },
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const sipAddress = text(parameters, 'SipAddress')!;
      const displayName = text(parameters, 'DisplayName');
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'CreateEndpoint',
        body: withDeployment(
          { sipAddress, persistentChatPoolFqdn: text(parameters, 'PersistentChatPoolFqdn')!, ...(displayName !== undefined ? { displayName } : {}) },
          options,
        ),
        target: sipAddress,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
        ...(flag(parameters, 'PassThru')
          ? {
              passThru: async (client: ApiClient, result: CommandResult): Promise<Shown> => {
                const created = result.events.find((e) => typeof e.data['sipAddress'] === 'string')?.data['sipAddress'];
                const entries = await findEndpoints(client, {
                  identity: typeof created === 'string' ? created : sipAddress,
                  deployment: options.deployment,
                  minPosition: result.position ?? undefined,
                });
                return { objects: entries.map(endpointObject), json: entries as unknown as JsonValue };
              },
            }
          : {}),
      };
    },
  },
  {
    name: 'Get-CsPersistentChatEndpoint',
    parameters: [
      { name: 'Identity', type: 'string', position: 0 },
      { name: 'PersistentChatPoolFqdn', type: 'string' },
      { name: 'Filter', type: 'string' },
      { name: 'ResultSize', type: 'string', placeholder: 'Int32' },
      { name: 'LdapFilter', type: 'string', unsupported: NOT_MODELLED },
      { name: 'OU', type: 'string', unsupported: NOT_MODELLED },
      { name: 'DomainController', type: 'string', unsupported: 'the product reads its own store, not a domain controller.' },
      { name: 'Credential', type: 'value', unsupported: 'the product reads its own store, not Active Directory.' },
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      const resultSize = text(parameters, 'ResultSize');
      if (resultSize !== undefined && !/^\d+$/.test(resultSize)) {
        throw new CmdletError(
          'INVALID_ARGUMENT',
          `${this.name} : Cannot bind parameter 'ResultSize'. Cannot convert value "${resultSize}" to type "System.Int32".`,
          `CannotConvertArgument,${this.name}`,
          { parameter: 'ResultSize' },
        );
      }
      return {
        kind: 'query',
        cmdlet: this.name,
        run: async (client, minPosition) => {
          const entries = await findEndpoints(client, {
            identity,
            pool: text(parameters, 'PersistentChatPoolFqdn'),
            filter: text(parameters, 'Filter'),
            resultSize,
            deployment: options.deployment,
            minPosition,
          });
          if (identity !== undefined && !identity.includes('*') && entries.length === 0) {
            throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `Management object not found for identity "${identity}".`, { field: 'identity' });
          }
          return { objects: entries.map(endpointObject), json: entries as unknown as JsonValue };
        },
      };
    },
  },
  {
    name: 'Remove-CsPersistentChatEndpoint',
    parameters: [{ name: 'Identity', type: 'string', required: true, position: 0 }, { name: 'Force', type: 'switch' }, WHAT_IF, CONFIRM],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity')!;
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'RemoveEndpoint',
        body: withDeployment({ identity }, options),
        target: identity,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
      };
    },
  },
  {
    name: 'Get-CsPersistentChatState',
    parameters: [{ name: 'Identity', type: 'string', position: 0, placeholder: 'PersistentChatServer:<pool fqdn>' }],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      const wanted = identity !== undefined ? poolFqdnOf(identity).toLowerCase() : undefined;
      return {
        kind: 'query',
        cmdlet: this.name,
        run: async (client, minPosition) => {
          const topology = (await client.query('/api/topology', { deployment: options.deployment, minPosition })) as {
            persistentChatPools?: Array<{ fqdn: string; state: string }>;
          };
          const pools = (topology.persistentChatPools ?? []).filter((p) => wanted === undefined || p.fqdn.toLowerCase() === wanted);
          if (identity !== undefined && pools.length === 0) {
            throw new ApiError(404, 'POOL_NOT_FOUND', `Management object not found for identity "${identity}": no Persistent Chat pool '${wanted}'.`, {
              field: 'identity',
            });
          }
          const rows = pools.map((p) => ({ identity: `service:PersistentChatServer:${p.fqdn}`, poolFqdn: p.fqdn, poolState: p.state }));
          return { objects: rows.map((r) => ({ Identity: r.identity, PoolState: r.poolState })), json: rows };
        },
      };
    },
  },
  {
    name: 'Set-CsPersistentChatState',
    parameters: [
      { name: 'Identity', type: 'string', required: true, position: 0, placeholder: 'PersistentChatServer:<pool fqdn>' },
      { name: 'PoolState', type: 'string', required: true, placeholder: 'Normal | FailedOver' },
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity')!;
      const state = text(parameters, 'PoolState')!;
      // PowerShell binds enum values without regard to case.
      const poolState = ['Normal', 'FailedOver'].find((s) => s.toLowerCase() === state.toLowerCase()) ?? state;
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'SetPersistentChatState',
        body: withDeployment({ poolFqdn: poolFqdnOf(identity), poolState }, options),
        target: identity,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
      };
    },
  },
  {
    name: 'Set-CsPersistentChatActiveServer',
    parameters: [
      { name: 'Identity', type: 'string', required: true, position: 0, placeholder: 'PersistentChatServer:<pool fqdn>' },
      { name: 'ActiveServers', type: 'value', placeholder: '@{Add="fqdn"} | @{Remove="fqdn"} | @{Replace="a","b"} | $Null' },
      { name: 'Swap', type: 'switch' },
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity')!;
      const change: Record<string, JsonValue> = {};
      if (parameters.has('ActiveServers')) {
        const value = parameters.get('ActiveServers')!;
        if (value === null) change['clear'] = true;
        else if (typeof value === 'object' && !Array.isArray(value)) {
          for (const [key, entry] of value.entries) {
            const field = ['add', 'remove', 'replace'].find((k) => k === key.toLowerCase());
            if (field === undefined) {
              throw new CmdletError(
                'INVALID_ARGUMENT',
                `${this.name} : Cannot bind parameter 'ActiveServers': unknown key '${key}' in the hashtable; use Add, Remove or Replace.`,
                `CannotConvertArgument,${this.name}`,
                { parameter: 'ActiveServers', key },
              );
            }
            change[field] = entry === null ? [] : strings(entry);
          }
        } else change['replace'] = strings(value);
      }
      if (flag(parameters, 'Swap')) change['swap'] = true;
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'SetPersistentChatActiveServers',
        body: withDeployment({ poolFqdn: poolFqdnOf(identity), ...change }, options),
        target: identity,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
      };
    },
  },
];

/** The cmdlets this product answers, with their syntax. */
export const CMDLETS: readonly CmdletSpec[] = DEFINITIONS;

/** Does the word name a cmdlet (`Verb-Noun`), rather than one of the product's own subcommands? */
export function looksLikeCmdlet(word: string | undefined): boolean {
  return word !== undefined && /^[A-Za-z]+-[A-Za-z][\w]*$/.test(word);
}

export function cmdletSyntax(name: string): string {
  return syntaxOf(resolveCmdlet(name, DEFINITIONS));
}

/** Binds a parsed line to its cmdlet. Throws CmdletError for a mistake in the line itself. */
export function prepareCmdlet(line: CmdletLine, options: GlobalOptions): PreparedCmdlet {
  const definition = resolveCmdlet(line.cmdlet, DEFINITIONS);
  return definition.prepare(bind(definition, line), options);
}

/** Checks a command's body exactly as the API will (schema, SIP addresses, FQDNs), without sending it. */
export async function validateBody(prepared: PreparedCmdlet): Promise<void> {
  if (prepared.kind !== 'command') return;
  // The command registry (its DTOs and validators) is loaded only by the lines that send a command.
  const { parseCommandBody } = await import('../api/commands/command-registry');
  try {
    await parseCommandBody(prepared.command, prepared.body);
  } catch (error) {
    const { toErrorResponse } = await import('../api/error-response');
    const { status, body } = toErrorResponse(error);
    if (status >= 500) throw error;
    throw new ApiError(status, body.code, body.message, body.details);
  }
}

export interface RunContext {
  readonly reason?: string | undefined;
  readonly correlationId?: string | undefined;
  /** Queries wait until the read models have passed this position (read your writes). */
  readonly minPosition?: number | undefined;
}

/** What running a cmdlet did. */
export interface Outcome {
  readonly lines: readonly string[];
  readonly shown?: Shown;
  readonly result?: CommandResult;
  readonly warnings: readonly string[];
  /** The log position of an applied command; undefined for a query or a what-if. */
  readonly position?: number | undefined;
}

async function confirmed(prepared: Extract<PreparedCmdlet, { kind: 'command' }>): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CmdletError(
      'CONFIRMATION_REQUIRED',
      `${prepared.cmdlet} : -Confirm asks for confirmation, but the input is not a terminal. Use -Confirm:$false, or -WhatIf to see what would happen.`,
      `ConfirmationRequired,${prepared.cmdlet}`,
    );
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) =>
    rl.question(`Confirm\nAre you sure you want to perform this action?\nPerforming the operation "${prepared.cmdlet}" on target "${prepared.target}".\n[Y] Yes  [N] No (default is "N"): `, resolve),
  );
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

function warningText(warning: JsonValue): string {
  if (typeof warning === 'string') return warning;
  const w = warning as { code?: unknown; message?: unknown } | null;
  if (w && typeof w.message === 'string') return typeof w.code === 'string' ? `${w.code}: ${w.message}` : w.message;
  return JSON.stringify(warning);
}

/** Runs a prepared cmdlet through the API. API refusals are thrown as ApiError. */
export async function runCmdlet(prepared: PreparedCmdlet, client: ApiClient, context: RunContext): Promise<Outcome> {
  if (prepared.kind === 'query') {
    const shown = await prepared.run(client, context.minPosition ?? (await client.headPosition()));
    return { lines: [], shown, warnings: [] };
  }
  if (prepared.confirm && !prepared.whatIf && !(await confirmed(prepared))) {
    return { lines: [`${prepared.cmdlet}: not confirmed; nothing changed.`], warnings: [] };
  }
  const result = await client.command(prepared.command, prepared.body, { whatIf: prepared.whatIf, reason: context.reason, correlationId: context.correlationId });
  const warnings = (result.warnings ?? []).map(warningText);
  if (prepared.whatIf) {
    const lines = [`What if: Performing the operation "${prepared.cmdlet}" on target "${prepared.target}".`];
    for (const event of result.events) lines.push(`  would append ${event.type} to ${event.streamId}: ${JSON.stringify(event.data)}`);
    if (result.events.length === 0) lines.push('  (no events would be appended)');
    return { lines, result, warnings };
  }
  const shown = prepared.passThru ? await prepared.passThru(client, result) : undefined;
  return { lines: [], result, warnings, position: result.position ?? undefined, ...(shown ? { shown } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Output

function display(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return `{${value.map(display).join(', ')}}`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** PowerShell's list view: `Name : Value`, names padded to the longest, a blank line between objects. */
export function listView(objects: ReadonlyArray<Readonly<Record<string, unknown>>>): string {
  return objects
    .map((object) => {
      const keys = Object.keys(object);
      const width = Math.max(0, ...keys.map((k) => k.length));
      return keys.map((k) => `${k.padEnd(width)} : ${display(object[k])}`).join('\n');
    })
    .join('\n\n');
}

/** What to print for an outcome: list view, or with `--json` the API's answer. */
export function renderOutcome(outcome: Outcome, json: boolean): { stdout: string; stderr: string } {
  const stderr = outcome.warnings.map((w) => `WARNING: ${w}`).join('\n');
  if (json) {
    const value = outcome.shown ? outcome.shown.json : outcome.result ?? null;
    return { stdout: value === null ? '' : JSON.stringify(value, null, 2), stderr };
  }
  const parts = [...outcome.lines];
  if (outcome.shown && outcome.shown.objects.length > 0) parts.push(listView(outcome.shown.objects));
  return { stdout: parts.join('\n'), stderr };
}

/** An error as PowerShell shows one (or, with `--json`, the API's error body). */
export function renderError(error: unknown, cmdlet: string | undefined, json: boolean): string {
  if (error instanceof CmdletError) {
    if (json) return JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }, null, 2);
    return `${error.message}\n    + CategoryInfo          : ${error.code}\n    + FullyQualifiedErrorId : ${error.errorId}`;
  }
  if (error instanceof ApiError) {
    if (json) return JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }, null, 2);
    const rule = typeof error.details['rule'] === 'string' ? ` (${error.details['rule']})` : '';
    const field = typeof error.details['field'] === 'string' ? ` field ${error.details['field']}` : '';
    const hint = error.code === 'REASON_REQUIRED' ? ' Give it with --reason TEXT or the environment variable TOPO_REASON.' : '';
    return (
      `${cmdlet ? `${cmdlet} : ` : ''}${error.code}: ${error.message}${hint}\n` +
      `    + CategoryInfo          : ${error.status === 404 ? 'ObjectNotFound' : error.status === 409 ? 'InvalidOperation' : 'InvalidArgument'}:${field}${rule}${error.status ? `, HTTP ${error.status}` : ''}\n` +
      `    + FullyQualifiedErrorId : ${error.code}${cmdlet ? `,${cmdlet}` : ''}`
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return json ? JSON.stringify({ error: { code: 'CLI_ERROR', message, details: {} } }, null, 2) : `topo: ${message}`;
}
