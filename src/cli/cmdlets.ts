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
} from './cmdlet-parser';
import { EXPORT_LEVELS } from '../application/commands/parameters';
import { evaluate, parseFilter, requireProperties, wildcardRegExp } from './filter-expression';
import { DataLine, migrationStepOf, requireDbInstance } from './migration-steps';
import { terminalJson, terminalSafe, terminalValues } from './terminal';
import { poolFqdnOfServiceIdentity } from '../application/commands/parameters';

/** The global options of a cmdlet line or script: `--server`, `--json`, `--reason`, `--deployment`. */
export interface GlobalOptions {
  readonly server?: string | undefined;
  /** An API token or OIDC JWT (`--token`, default `TOPO_TOKEN`). */
  readonly token?: string | undefined;
  readonly json: boolean;
  readonly reason?: string | undefined;
  readonly deployment?: string | undefined;
}

/** `-ErrorAction` / `-WarningAction` values a batch can honour (about_CommonParameters). */
export const ACTION_PREFERENCES = ['SilentlyContinue', 'Continue', 'Stop', 'Ignore'] as const;
export type ActionPreference = (typeof ACTION_PREFERENCES)[number];

/** What the common parameters and `-Force` of a line ask of the runner. */
export interface LineOptions {
  /** `-ErrorAction`: whether a batch goes on after this line fails (Stop, the batch's default, ends it). */
  readonly errorAction?: ActionPreference;
  /** `-WarningAction`: SilentlyContinue/Ignore hide the warnings; Stop ends the batch after the line. */
  readonly warningAction?: ActionPreference;
  /** `-Verbose` / `-Debug`: print what is sent to the API. */
  readonly verbose: boolean;
  /** `-Force`: no non-fatal message (warnings, "already so") is shown as an error. */
  readonly force: boolean;
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
      readonly line: LineOptions;
      /** API input fields by the cmdlet parameter they come from, so errors name the parameter. */
      readonly parameters: Readonly<Record<string, string>>;
      /** After success, the objects to show (`-PassThru`). */
      readonly passThru?: (client: ApiClient, result: CommandResult) => Promise<Shown>;
      /** A body that depends on what is stored (the open migration a data cmdlet records a step of). */
      readonly resolve?: (client: ApiClient, minPosition: number | undefined) => Promise<DataLine>;
      /**
       * A mistake in the line that only the stored topology shows (a page's placeholder for a pool or a
       * database instance): `topo run` checks it for every line before the first runs.
       */
      readonly check?: (client: ApiClient, minPosition: number | undefined) => Promise<void>;
    }
  | {
      readonly kind: 'query';
      readonly cmdlet: string;
      readonly line: LineOptions;
      /** Query parameters of the API by the cmdlet parameter they come from, so errors name the parameter. */
      readonly parameters: Readonly<Record<string, string>>;
      /** The properties of the objects it shows, which Where-Object may read. */
      readonly properties: readonly string[];
      run(client: ApiClient, minPosition: number | undefined): Promise<Shown>;
    };

/** What a cmdlet shows: objects in the list view, and their JSON for `--json` (the same objects, in order). */
export interface Shown {
  readonly objects: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly json: JsonValue;
}

/** A cmdlet the product models: its parameters, and how a bound line becomes a command or a query. */
export interface CmdletDefinition extends CmdletSpec {
  prepare(parameters: BoundParameters, options: GlobalOptions): PreparedCmdlet;
}

const WHAT_IF: ParameterSpec = { name: 'WhatIf', type: 'switch', aliases: ['wi'] };
const CONFIRM: ParameterSpec = { name: 'Confirm', type: 'switch', aliases: ['cf'] };
const FORCE: ParameterSpec = { name: 'Force', type: 'switch' };
const NOT_MODELLED = 'the product keeps the topology, not Active Directory; filter with -Identity, -PersistentChatPoolFqdn or -Filter.';

/** The properties of an endpoint as Get-CsPersistentChatEndpoint shows them. */
export const ENDPOINT_PROPERTIES = ['Identity', 'SipAddress', 'DisplayName', 'PersistentChatPoolFqdn'] as const;
/** The properties of a pool's state as Get-CsPersistentChatState shows them. */
export const STATE_PROPERTIES = ['Identity', 'PoolState'] as const;

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

function preference(cmdlet: string, parameters: BoundParameters, name: string): ActionPreference | undefined {
  const value = text(parameters, name);
  if (value === undefined) return undefined;
  const found = ACTION_PREFERENCES.find((p) => p.toLowerCase() === value.toLowerCase());
  if (found) return found;
  const why = /^inquire$/i.test(value) ? ' Inquire asks at each message, and a batch has no one to ask.' : /^suspend$/i.test(value) ? ' Suspend is for workflows.' : '';
  throw new CmdletError(
    'INVALID_ARGUMENT',
    `${cmdlet} : Cannot bind parameter '${name}'. '${value}' is not one of ${ACTION_PREFERENCES.join(', ')}.${why}`,
    `CannotConvertArgument,${cmdlet}`,
    { parameter: name },
  );
}

/** The common parameters' effect on running the line (the variables ones have none: a batch has no variables). */
export function lineOptions(cmdlet: string, parameters: BoundParameters): LineOptions {
  const errorAction = preference(cmdlet, parameters, 'ErrorAction');
  const warningAction = preference(cmdlet, parameters, 'WarningAction');
  preference(cmdlet, parameters, 'InformationAction');
  return {
    ...(errorAction ? { errorAction } : {}),
    ...(warningAction ? { warningAction } : {}),
    verbose: flag(parameters, 'Verbose') || flag(parameters, 'Debug'),
    force: flag(parameters, 'Force'),
  };
}

/** `PersistentChatServer:<fqdn>`, `service:PersistentChatServer:<fqdn>` or the bare FQDN: the pool's FQDN (as the API reads `identity`). */
export const poolFqdnOf = poolFqdnOfServiceIdentity;

/** Is the text a pool's identity in a form the product reads: `PersistentChatServer:<fqdn>` or `service:PersistentChatServer:<fqdn>`? */
function isPoolIdentity(identity: string | undefined): boolean {
  if (identity === undefined || !/^\s*(service:)?PersistentChatServer:/i.test(identity)) return false;
  const fqdn = poolFqdnOf(identity);
  return fqdn.includes('.') && !/[\s:]/.test(fqdn);
}

/**
 * A pool's bare FQDN given as -Identity of Get-/Set-CsPersistentChatState or Set-CsPersistentChatActiveServer:
 * their pages show only the service identity (`PersistentChatServer:<fqdn>`), so the line is refused
 * naming the identity to type.
 */
function refuseBareFqdn(cmdlet: string, identity: string | undefined): void {
  if (identity === undefined || isPoolIdentity(identity)) return;
  const fqdn = identity.trim();
  if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(fqdn)) return;
  throw new CmdletError(
    'INVALID_IDENTITY',
    `${cmdlet} : -Identity '${identity}' is a pool's FQDN, not its service identity: write -Identity "PersistentChatServer:${fqdn}" ` +
      `(the form the cmdlet's reference shows, as Get-CsPersistentChatState lists it). Nothing changed.`,
    `InvalidIdentity,${cmdlet}`,
    { parameter: 'Identity', identity, expected: `PersistentChatServer:${fqdn}` },
  );
}

/**
 * The pool a Persistent Chat service identity names. A name that is neither the identity's documented
 * form nor an FQDN (a page's placeholder such as "PChatServerCollection") is refused naming -Identity.
 */
function servicePoolFqdn(cmdlet: string, identity: string): string {
  refuseBareFqdn(cmdlet, identity);
  if (!isPoolIdentity(identity)) {
    throw new CmdletError(
      'INVALID_IDENTITY',
      `${cmdlet} : -Identity '${identity}' is not the identity of a Persistent Chat pool: write PersistentChatServer:<pool fqdn> ` +
        `(Get-CsPersistentChatState lists them, as Get-CsService -PersistentChatServer does in Lync).`,
      `InvalidIdentity,${cmdlet}`,
      { parameter: 'Identity', identity },
    );
  }
  return poolFqdnOf(identity);
}

/**
 * The pool of a Set-CsPersistentChatActiveServer line that names no pool: without -Identity, the one
 * pool every server named belongs to (or the deployment's only pool when no server is named); several
 * candidates are refused, naming each. An -Identity that is no pool's identity (the reference's
 * "PChatServerCollection", or "global" of its Lync Server 2013 edition) stands for the identity
 * Get-CsService -PersistentChatServer shows: it is refused, naming the -Identity to type in its place.
 */
async function activeServerPool(
  cmdlet: string,
  identity: string | undefined,
  servers: readonly string[],
  client: ApiClient,
  deployment: string | undefined,
  minPosition: number | undefined,
): Promise<string> {
  const topology = (await client.query('/api/topology', { deployment, minPosition })) as { persistentChatPools?: Array<{ fqdn: string; servers: Array<{ fqdn: string }> }> };
  const pools = topology.persistentChatPools ?? [];
  const wanted = servers.map((s) => s.toLowerCase());
  const candidates = pools.filter((p) => wanted.every((server) => p.servers.some((s) => s.fqdn.toLowerCase() === server))).map((p) => p.fqdn);
  const typed = (fqdn: string): string => `-Identity "PersistentChatServer:${fqdn}"`;
  const whose = servers.length > 0 ? `the pool of ${servers.join(', ')}` : 'the pool';
  const none =
    servers.length > 0
      ? `no Persistent Chat pool of this deployment has ${servers.length > 1 ? 'all of the servers' : 'the server'} ${servers.join(', ')}` +
        (pools.length > 0 ? ` (its pools: ${pools.map((p) => p.fqdn).join(', ')})` : '')
      : 'this deployment has no Persistent Chat pool';
  if (identity !== undefined) {
    const instead =
      candidates.length === 1
        ? `Type ${typed(candidates[0]!)} in its place (${whose}).`
        : candidates.length > 1
          ? `Type the identity of the pool you mean in its place, one of: ${candidates.map(typed).join(', ')}.`
          : `No identity can be named in its place: ${none}.`;
    throw new CmdletError(
      'INVALID_IDENTITY',
      `${cmdlet} : -Identity '${identity}' is not the identity of a Persistent Chat pool. The reference's "PChatServerCollection" (and "global" of its Lync Server 2013 edition) stands for the identity ` +
        `Get-CsService -PersistentChatServer shows for the collection, PersistentChatServer:<pool fqdn> (Get-CsPersistentChatState lists them here). ${instead} Nothing changed.`,
      `InvalidIdentity,${cmdlet}`,
      { parameter: 'Identity', identity, candidates },
    );
  }
  if (candidates.length === 1) return candidates[0]!;
  throw new CmdletError(
    candidates.length > 1 ? 'AMBIGUOUS_IDENTITY' : 'INVALID_IDENTITY',
    candidates.length > 1
      ? `${cmdlet} : -Identity is needed here: ${candidates.length} Persistent Chat pools could be meant (${candidates.join(', ')}). Name one: ${candidates.map(typed).join(', ')}. Nothing changed.`
      : `${cmdlet} : -Identity is needed here: ${none}. Nothing changed.`,
    `${candidates.length > 1 ? 'AmbiguousIdentity' : 'InvalidIdentity'},${cmdlet}`,
    { parameter: 'Identity', candidates },
  );
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

/** `-ResultSize`: a whole number from 0 to 2147483647, or `Unlimited`; undefined for no limit. */
function resultSizeOf(cmdlet: string, value: string | undefined): number | undefined {
  if (value === undefined || /^unlimited$/i.test(value)) return undefined;
  if (/^\d+$/.test(value) && Number(value) <= 2_147_483_647) return Number(value);
  throw new CmdletError(
    'INVALID_ARGUMENT',
    `${cmdlet} : Cannot bind parameter 'ResultSize'. Cannot convert value "${value}" to type "Unlimited[UInt32]": a whole number from 0 to 2147483647, or Unlimited.`,
    `CannotConvertArgument,${cmdlet}`,
    { parameter: 'ResultSize' },
  );
}

/** The text of a -Filter given as a script block `{...}` or as a string. */
function filterText(value: CmdletValue | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !Array.isArray(value) && value.kind === 'scriptblock') return value.text;
  return typeof value === 'string' ? value : showValue(value);
}

export const DEFINITIONS: readonly CmdletDefinition[] = [
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
        line: lineOptions(this.name, parameters),
        parameters: { sipAddress: 'SipAddress', persistentChatPoolFqdn: 'PersistentChatPoolFqdn', displayName: 'DisplayName' },
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
      { name: 'Filter', type: 'value', placeholder: '{Property -eq "value"}' },
      { name: 'ResultSize', type: 'string', placeholder: 'Int32 | Unlimited' },
      { name: 'LdapFilter', type: 'string', unsupported: NOT_MODELLED },
      { name: 'OU', type: 'string', unsupported: NOT_MODELLED },
      { name: 'DomainController', type: 'string', unsupported: 'the product reads its own store, not a domain controller.' },
      { name: 'Credential', type: 'value', unsupported: 'the product reads its own store, not Active Directory.' },
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      const resultSize = resultSizeOf(this.name, text(parameters, 'ResultSize'));
      // -Filter is a filter expression on the endpoints' properties (the syntax of Where-Object, without $_.).
      const source = filterText(parameters.get('Filter'));
      if (source !== undefined && !/(^|[\s(])(-[a-z]+|!)/i.test(source)) {
        throw new CmdletError(
          'UNSUPPORTED_FILTER',
          `${this.name} -Filter: '${source}' is not a filter expression. -Filter takes the syntax of Where-Object without $_., ` +
            `e.g. -Filter {DisplayName -eq "Persistent Chat Endpoint 1"} or {SipAddress -like "sip:pce*"}; for a wildcard on the identity, use -Identity "${source}".`,
          'InvalidFilter',
          { parameter: 'Filter', filter: source },
        );
      }
      const filter = source === undefined ? undefined : parseFilter(source, 'bare', `${this.name} -Filter`);
      if (filter && source !== undefined) requireProperties(filter, ENDPOINT_PROPERTIES, `${this.name} -Filter`, source);
      return {
        kind: 'query',
        cmdlet: this.name,
        line: lineOptions(this.name, parameters),
        parameters: { identity: 'Identity', pool: 'PersistentChatPoolFqdn', resultSize: 'ResultSize' },
        properties: ENDPOINT_PROPERTIES,
        run: async (client, minPosition) => {
          const entries = await findEndpoints(client, {
            identity,
            pool: text(parameters, 'PersistentChatPoolFqdn'),
            // With a filter the limit applies to what passes it, so it is applied here.
            resultSize: filter ? undefined : resultSize,
            deployment: options.deployment,
            minPosition,
          });
          if (identity !== undefined && !identity.includes('*') && entries.length === 0) {
            throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `Management object not found for identity "${identity}".`, { field: 'identity', parameter: 'Identity' });
          }
          let kept = entries.map((entry) => ({ entry, object: endpointObject(entry) }));
          if (filter) kept = kept.filter(({ object }) => evaluate(filter, object));
          if (resultSize !== undefined) kept = kept.slice(0, resultSize);
          return { objects: kept.map((k) => k.object), json: kept.map((k) => k.entry) as unknown as JsonValue };
        },
      };
    },
  },
  {
    name: 'Remove-CsPersistentChatEndpoint',
    parameters: [{ name: 'Identity', type: 'string', required: true, position: 0, fromPipeline: true }, FORCE, WHAT_IF, CONFIRM],
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
        line: lineOptions(this.name, parameters),
        parameters: { identity: 'Identity' },
      };
    },
  },
  {
    name: 'Get-CsPersistentChatState',
    parameters: [
      { name: 'Identity', type: 'string', position: 0, placeholder: 'PersistentChatServer:<pool fqdn>' },
      { name: 'Filter', type: 'string', placeholder: 'wildcard on the Identity, e.g. "*.litwareinc.com"' },
      // One store: the local replica and the Central Management store are the same here.
      { name: 'LocalStore', type: 'switch' },
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      const filter = text(parameters, 'Filter');
      if (identity !== undefined && filter !== undefined) {
        throw new CmdletError(
          'AMBIGUOUS_PARAMETER_SET',
          `${this.name} : Parameter set cannot be resolved using the specified named parameters: -Identity and -Filter cannot be used in the same command.`,
          `AmbiguousParameterSet,${this.name}`,
          { parameters: ['Identity', 'Filter'] },
        );
      }
      const wanted = identity !== undefined ? servicePoolFqdn(this.name, identity).toLowerCase() : undefined;
      const pattern = filter !== undefined ? wildcardRegExp(filter) : undefined;
      return {
        kind: 'query',
        cmdlet: this.name,
        line: lineOptions(this.name, parameters),
        parameters: { identity: 'Identity' },
        properties: STATE_PROPERTIES,
        run: async (client, minPosition) => {
          const topology = (await client.query('/api/topology', { deployment: options.deployment, minPosition })) as {
            persistentChatPools?: Array<{ fqdn: string; state: string }>;
          };
          const pools = (topology.persistentChatPools ?? []).filter(
            (p) =>
              (wanted === undefined || p.fqdn.toLowerCase() === wanted) &&
              // The wildcard is matched against the Identity, in any of its written forms.
              (pattern === undefined || [`service:PersistentChatServer:${p.fqdn}`, `PersistentChatServer:${p.fqdn}`, p.fqdn].some((form) => pattern.test(form))),
          );
          if (identity !== undefined && pools.length === 0) {
            throw new ApiError(404, 'POOL_NOT_FOUND', `Management object not found for identity "${identity}": no Persistent Chat pool '${wanted}'.`, {
              field: 'identity',
              parameter: 'Identity',
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
      { name: 'Identity', type: 'string', position: 0, placeholder: 'PersistentChatServer:<pool fqdn>', fromPipeline: true },
      { name: 'PoolState', type: 'string', placeholder: 'Normal | FailedOver' },
      { name: 'Instance', type: 'value', unsupported: 'a batch has no objects in variables; name the pool with -Identity, or pipe Get-CsPersistentChatState into it.' },
      FORCE,
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      if (identity === undefined) {
        // The reference marks -Identity optional, for the pipeline; a pool's state needs its pool.
        throw new CmdletError(
          'MISSING_PARAMETER',
          `${this.name} : -Identity is needed here: a pool state belongs to one pool. Name it (PersistentChatServer:<pool fqdn>), or pipe Get-CsPersistentChatState into the cmdlet.`,
          `MissingMandatoryParameter,${this.name}`,
          { parameters: ['Identity'] },
        );
      }
      // -PoolState is optional, and Normal by default (the reference).
      const state = text(parameters, 'PoolState') ?? 'Normal';
      // PowerShell binds enum values without regard to case.
      const poolState = ['Normal', 'FailedOver'].find((s) => s.toLowerCase() === state.toLowerCase()) ?? state;
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'SetPersistentChatState',
        body: withDeployment({ poolFqdn: servicePoolFqdn(this.name, identity), poolState }, options),
        target: identity,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
        line: lineOptions(this.name, parameters),
        parameters: { poolFqdn: 'Identity', poolState: 'PoolState' },
      };
    },
  },
  {
    name: 'Set-CsPersistentChatActiveServer',
    parameters: [
      // Optional, as the reference marks it: without it, the pool is the one the servers named belong to.
      { name: 'Identity', type: 'string', position: 0, placeholder: 'PersistentChatServer:<pool fqdn>' },
      { name: 'ActiveServers', type: 'value', placeholder: '@{Add="fqdn"} | @{Remove="fqdn"} | @{Replace="a","b"} | $Null' },
      { name: 'Swap', type: 'switch' },
      FORCE,
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const identity = text(parameters, 'Identity');
      const change: Record<string, JsonValue> = {};
      if (parameters.has('ActiveServers')) {
        const value = parameters.get('ActiveServers')!;
        if (value === null) change['clear'] = true;
        else if (typeof value === 'object' && !Array.isArray(value) && value.kind === 'hashtable') {
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
      refuseBareFqdn(this.name, identity);
      const named = isPoolIdentity(identity) ? poolFqdnOf(identity!) : undefined;
      const servers = (['add', 'remove', 'replace'] as const).flatMap((k) => (Array.isArray(change[k]) ? (change[k] as string[]) : []));
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'SetPersistentChatActiveServers',
        body: withDeployment({ poolFqdn: named ?? '', ...change }, options),
        target: identity ?? servers.join(', '),
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
        line: lineOptions(this.name, parameters),
        parameters: { poolFqdn: 'Identity', add: 'ActiveServers', remove: 'ActiveServers', replace: 'ActiveServers', clear: 'ActiveServers' },
        // Without a pool's identity, the pool is read from the topology: the one the servers named belong to.
        ...(named === undefined
          ? {
              resolve: async (client: ApiClient, minPosition: number | undefined) => {
                const poolFqdn = await activeServerPool(this.name, identity, servers, client, options.deployment, minPosition);
                return { body: withDeployment({ poolFqdn, ...change }, options), summary: `the active servers of PersistentChatServer:${poolFqdn}` };
              },
              check: async (client: ApiClient, minPosition: number | undefined) => {
                await activeServerPool(this.name, identity, servers, client, options.deployment, minPosition);
              },
            }
          : {}),
      };
    },
  },
  {
    name: 'Export-CsPersistentChatData',
    parameters: [
      { name: 'DBInstance', type: 'string', required: true, placeholder: 'sqlserver.fqdn\\instance' },
      { name: 'FileName', type: 'string' },
      { name: 'Level', type: 'string', placeholder: EXPORT_LEVELS.join(' | ') },
      { name: 'Scope', type: 'value', placeholder: "'Category1','Category2'" },
      { name: 'StartDate', type: 'string', placeholder: 'DateTime' },
      { name: 'Report', type: 'string' },
      { name: 'DBName', type: 'string' },
      { name: 'DisableExportedNodes', type: 'switch' },
      { name: 'AsBytes', type: 'switch', unsupported: 'a byte array lives in a PowerShell variable, which a batch does not have; export to -FileName.' },
    ],
    prepare(parameters, options) {
      const dbInstance = text(parameters, 'DBInstance')!;
      const levelText = text(parameters, 'Level');
      // R17: the export levels, bound without regard to case as PowerShell binds an enum.
      const level = levelText === undefined ? undefined : EXPORT_LEVELS.find((l) => l.toLowerCase() === levelText.toLowerCase());
      if (levelText !== undefined && level === undefined) {
        throw new CmdletError(
          'INVALID_ARGUMENT',
          `${this.name} : Cannot bind parameter 'Level'. R17: '${levelText}' is not an export level; use one of ${EXPORT_LEVELS.join(', ')}.`,
          `CannotConvertArgument,${this.name}`,
          { parameter: 'Level', rule: 'R17' },
        );
      }
      const startDate = text(parameters, 'StartDate');
      if (startDate !== undefined && Number.isNaN(Date.parse(startDate))) {
        throw new CmdletError('INVALID_ARGUMENT', `${this.name} : Cannot bind parameter 'StartDate'. Cannot convert value "${startDate}" to type "System.DateTime".`, `CannotConvertArgument,${this.name}`, {
          parameter: 'StartDate',
        });
      }
      const scope = parameters.has('Scope') ? strings(parameters.get('Scope') ?? []) : undefined;
      const fileName = text(parameters, 'FileName');
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'RunMigration',
        body: {},
        target: dbInstance,
        whatIf: false,
        confirm: false,
        line: lineOptions(this.name, parameters),
        parameters: { migrationId: 'DBInstance' },
        resolve: (client, minPosition) => migrationStepOf(this.name, 2, { dbInstance, fileName, level, scope }, client, options.deployment, minPosition),
        check: async (client, minPosition) => void (await requireDbInstance(this.name, 2, dbInstance, client, options.deployment, minPosition)),
      };
    },
  },
  {
    name: 'Import-CsPersistentChatData',
    parameters: [
      { name: 'DBInstance', type: 'string', required: true, placeholder: 'sqlserver.fqdn\\instance' },
      { name: 'FileName', type: 'string', required: true },
      { name: 'Report', type: 'string' },
      { name: 'ByteInput', type: 'value', unsupported: 'a byte array lives in a PowerShell variable, which a batch does not have; import from -FileName.' },
      WHAT_IF,
      CONFIRM,
    ],
    prepare(parameters, options) {
      const dbInstance = text(parameters, 'DBInstance')!;
      const fileName = text(parameters, 'FileName')!;
      return {
        kind: 'command',
        cmdlet: this.name,
        command: 'RunMigration',
        body: {},
        target: dbInstance,
        whatIf: flag(parameters, 'WhatIf'),
        confirm: flag(parameters, 'Confirm'),
        line: lineOptions(this.name, parameters),
        parameters: { migrationId: 'DBInstance' },
        resolve: (client, minPosition) => migrationStepOf(this.name, 3, { dbInstance, fileName }, client, options.deployment, minPosition),
        check: async (client, minPosition) => void (await requireDbInstance(this.name, 3, dbInstance, client, options.deployment, minPosition)),
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

/** Binds a parsed line to its cmdlet. Throws CmdletError for a mistake in the line itself. */
export function prepareCmdlet(line: CmdletLine, options: GlobalOptions): PreparedCmdlet {
  const definition = resolveCmdlet(line.cmdlet, DEFINITIONS);
  return definition.prepare(bind(definition, line), options);
}

/**
 * An API refusal as the cmdlet line's: the input field it names (`poolFqdn`) becomes the cmdlet's
 * parameter (`-Identity`), in the message and as `details.parameter`; the field stays in details.
 */
export function inParameterTerms(error: unknown, prepared: PreparedCmdlet): unknown {
  if (!(error instanceof ApiError)) return error;
  const field = typeof error.details['field'] === 'string' ? error.details['field'] : undefined;
  const parameter = field === undefined ? undefined : prepared.parameters[field];
  if (parameter === undefined || error.details['parameter'] !== undefined) return error;
  const message = error.message.startsWith(`${field} `) ? `-${parameter} ${error.message.slice(field!.length + 1)}` : error.message;
  return new ApiError(error.status, error.code, message, { ...error.details, parameter });
}

/** Checks a command's body exactly as the API will (schema, SIP addresses, FQDNs), without sending it. */
export async function validateBody(prepared: PreparedCmdlet): Promise<void> {
  if (prepared.kind !== 'command' || prepared.resolve) return;
  // The command registry (its DTOs and validators) is loaded only by the lines that send a command.
  const { parseCommandBody } = await import('../application/commands/command-registry');
  try {
    await parseCommandBody(prepared.command, prepared.body);
  } catch (error) {
    const { refusalOf } = await import('../application/refusals');
    const refusal = refusalOf(error);
    if (refusal === undefined) throw error;
    throw inParameterTerms(new ApiError(refusal.status, refusal.code, refusal.message, refusal.details), prepared);
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
  /** A command of a pipeline that failed, when -ErrorAction let the pipeline go on. */
  readonly failed?: unknown;
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

/** Refusals that only say the object is already as asked: non-fatal, so `-Force` reports them without failing. */
const ALREADY_SO = new Set(['PERSISTENT_CHAT_STATE_UNCHANGED', 'ACTIVE_SERVERS_UNCHANGED']);

/** Runs a prepared cmdlet through the API. API refusals are thrown as ApiError, naming the cmdlet's parameters. */
export async function runCmdlet(prepared: PreparedCmdlet, client: ApiClient, context: RunContext): Promise<Outcome> {
  try {
    return await runOne(prepared, client, context);
  } catch (error) {
    throw inParameterTerms(error, prepared);
  }
}

async function runOne(prepared: PreparedCmdlet, client: ApiClient, context: RunContext): Promise<Outcome> {
  if (prepared.kind === 'query') {
    const shown = await prepared.run(client, context.minPosition ?? (await client.headPosition()));
    return { lines: [], shown, warnings: [] };
  }
  const verbose: string[] = [];
  let body = prepared.body;
  let summary: string | undefined;
  if (prepared.resolve) {
    const resolved = await prepared.resolve(client, context.minPosition ?? (await client.headPosition()));
    if (resolved.body === null) {
      return { lines: [`${prepared.whatIf ? 'What if: ' : ''}${prepared.cmdlet}: ${resolved.note}`], warnings: [] };
    }
    body = resolved.body;
    summary = resolved.summary;
  }
  if (prepared.confirm && !prepared.whatIf && !(await confirmed(prepared))) {
    return { lines: [`${prepared.cmdlet}: not confirmed; nothing changed.`], warnings: [] };
  }
  if (prepared.line.verbose) verbose.push(`VERBOSE: POST /api/commands/${prepared.command}${prepared.whatIf ? '?whatIf=true' : ''} ${JSON.stringify(body)}`);
  let result: CommandResult;
  try {
    result = await client.command(prepared.command, body, { whatIf: prepared.whatIf, reason: context.reason, correlationId: context.correlationId });
  } catch (error) {
    if (prepared.line.force && error instanceof ApiError && ALREADY_SO.has(error.code)) {
      return { lines: [...verbose, `${prepared.cmdlet}: ${error.message} Nothing changed (-Force).`], warnings: [] };
    }
    throw error;
  }
  const shownWarnings =
    prepared.line.force || prepared.line.warningAction === 'SilentlyContinue' || prepared.line.warningAction === 'Ignore' ? [] : (result.warnings ?? []).map(warningText);
  const warnings = shownWarnings;
  const stopOnWarning = prepared.line.warningAction === 'Stop' && (result.warnings ?? []).length > 0;
  if (prepared.whatIf) {
    const lines = [...verbose, `What if: Performing the operation "${prepared.cmdlet}" on target "${prepared.target}"${summary ? ` (${summary})` : ''}.`];
    for (const event of result.events) lines.push(`  would append ${event.type} to ${event.streamId}: ${JSON.stringify(event.data)}`);
    if (result.events.length === 0) lines.push('  (no events would be appended)');
    return { lines, result, warnings };
  }
  const shown = prepared.passThru ? await prepared.passThru(client, result) : undefined;
  const lines = [...verbose, ...(summary ? [`${prepared.cmdlet}: recorded as ${summary}.`] : [])];
  const outcome: Outcome = { lines, result, warnings, position: result.position ?? undefined, ...(shown ? { shown } : {}) };
  if (stopOnWarning) {
    throw new LineStopped(`${prepared.cmdlet} : -WarningAction Stop: the command was applied and warned: ${(result.warnings ?? []).map(warningText).join(' ')}`, [outcome]);
  }
  return outcome;
}

/**
 * A line that stopped part way: a pipeline whose command for one object failed after others were
 * applied, or a warning under `-WarningAction Stop`. `applied` are the outcomes of what was applied.
 */
export class LineStopped extends Error {
  constructor(
    message: string,
    readonly applied: readonly Outcome[],
    readonly failure?: unknown,
  ) {
    super(message);
    this.name = 'LineStopped';
  }
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
  // Every value from the store or the server is escaped one by one for a terminal, so that none can
  // break a line of the list view; JSON stays the same value.
  const stderr = outcome.warnings.map((w) => `WARNING: ${terminalSafe(w)}`).join('\n');
  if (json) {
    const value = outcome.shown ? outcome.shown.json : outcome.result ?? null;
    return { stdout: value === null ? '' : terminalJson(value, 2), stderr };
  }
  const parts = outcome.lines.map(terminalSafe);
  if (outcome.shown && outcome.shown.objects.length > 0) parts.push(listView(terminalValues(outcome.shown.objects)));
  return { stdout: parts.join('\n'), stderr };
}

/** An error as PowerShell shows one (or, with `--json`, the API's error body). */
export function renderError(error: unknown, cmdlet: string | undefined, json: boolean): string {
  if (error instanceof LineStopped && error.failure !== undefined) {
    const done = error.applied.filter((o) => o.position !== undefined).length;
    const inner = renderError(error.failure, cmdlet, json);
    if (json) {
      const parsed = JSON.parse(inner) as { error: Record<string, unknown> };
      return JSON.stringify({ error: { ...parsed.error, details: { ...(parsed.error['details'] as object), appliedBeforeFailure: done } } }, null, 2);
    }
    return `${error.message}; ${done} change(s) of the line were applied before it.\n${inner}`;
  }
  if (error instanceof CmdletError) {
    if (json) return JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }, null, 2);
    return `${error.message}\n    + CategoryInfo          : ${error.code}\n    + FullyQualifiedErrorId : ${error.errorId}`;
  }
  if (error instanceof ApiError) {
    if (json) return JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }, null, 2);
    const rule = typeof error.details['rule'] === 'string' ? ` (${error.details['rule']})` : '';
    const field =
      typeof error.details['parameter'] === 'string'
        ? ` parameter -${error.details['parameter']}`
        : typeof error.details['field'] === 'string'
          ? ` field ${error.details['field']}`
          : '';
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
