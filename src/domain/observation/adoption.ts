import { DomainError, type RuleId } from '../errors';
import type { TopologyCommand } from '../topology/commands';
import { decide, type DomainWarning } from '../topology/decide';
import type { TopologyEvent } from '../topology/events';
import { foldTopology, TopologyFold } from '../topology/evolve';
import type { TopologyState } from '../topology/state';
import { parseContactDistinguishedName } from '../shared/distinguished-name';
import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import { type Coverage, covers, type DriftItem, type EntityValue, type EntityView, fieldsThatDiffer, ledgerViewOf, parseEntityKey } from './drift';

/** `POST /api/commands/AdoptObservedState`: make the ledger say what an observation saw, for some or all of its open drift. */
export interface AdoptObservedState {
  readonly type: 'AdoptObservedState';
  readonly observationId: string;
  /** Entity keys (`endpoint:sip:x@contoso.com`); all open drift the observation covers when absent. */
  readonly entities?: readonly string[];
  readonly reason: string;
}

/** One topology command an adoption sends, and the drift entity it is for. */
export interface AdoptionStep {
  readonly entity: string;
  readonly command: TopologyCommand;
}

export interface Adoption {
  readonly steps: readonly AdoptionStep[];
  readonly events: readonly TopologyEvent[];
  readonly warnings: readonly DomainWarning[];
  readonly state: TopologyState;
}

/**
 * A refusal met while adopting: the decider's own (code, rule and message kept), with the drift
 * entity that led to it and the command that was refused. The request itself is well formed: what
 * breaks the rule is the observed state, so a refusal of the decider's input (a 400 for a command)
 * is a conflict here (409), naming `entities` (the decider's field stays in `details.commandField`).
 */
export class AdoptionRefused extends DomainError {
  readonly code: string;
  readonly category: DomainError['category'];
  constructor(entity: string, command: TopologyCommand['type'], cause: DomainError) {
    super(`Adopting ${entity} is refused (${command}): ${cause.message} Nothing was recorded.`, {
      ...(cause.rule ? { rule: cause.rule } : {}),
      field: 'entities',
      details: { ...cause.details, ...(cause.field ? { commandField: cause.field } : {}), entity, command },
    });
    this.code = cause.code;
    this.category = cause.category === 'invalid' ? 'conflict' : cause.category;
  }
}

/** Drift the ledger cannot take by any command: a fact it fixes at creation (a pool's site, a legacy pool's version). */
export class DriftNotAdoptable extends DomainError {
  readonly code = 'DRIFT_NOT_ADOPTABLE';
  readonly category = 'conflict';
  /** `section`: the snapshot section the adoption would have to change without the observation having looked at it. */
  constructor(entity: string, fields: readonly string[], why: string, rule?: RuleId, section?: string) {
    super(`${entity} cannot be adopted as observed (${fields.join(', ')}): ${why}. Nothing was recorded.`, {
      ...(rule ? { rule } : {}),
      field: 'entities',
      details: { entity, fields: [...fields], ...(section ? { section } : {}) },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Planning: which commands, in which order. Each phase sees the state the earlier ones left, so an
// address is freed before it is taken and a pool exists before its endpoints.

type Plan = (state: TopologyState) => TopologyCommand[];
const PHASES = 9;

const text = (value: EntityValue | undefined): string | null => (typeof value === 'string' ? value : null);
const list = (value: EntityValue | undefined): readonly string[] | undefined => (Array.isArray(value) ? (value as readonly string[]) : undefined);

/** What the observation says of a SIP address beyond one item: another item claiming it, and whether principals were observed there. */
interface AddressContext {
  /** The kind of principal an adopted item observed at the address (`wellKnownUser:<pool>` when it named its pool), or 'endpoint'; undefined when none. */
  observedOwner(sipAddress: string): string | undefined;
  /** Whether the observation looked at principals at this address (and so saw none when no item says otherwise). */
  principalObserved(sipAddress: string): boolean;
}

function phasesOf(item: DriftItem, reason: string, addresses: AddressContext): (Plan | undefined)[] {
  const phases: (Plan | undefined)[] = new Array<Plan | undefined>(PHASES).fill(undefined);
  const parsed = parseEntityKey(item.entity);
  if (!parsed) throw new DriftNotAdoptable(item.entity, [], 'it names no entity the ledger keeps');
  const observed = item.observed;
  const id = parsed.id;
  switch (parsed.kind) {
    case 'sipDomain': {
      const domain = id as Fqdn;
      if (item.kind === 'missing_in_ledger') phases[0] = () => [{ type: 'RegisterSipDomain', domain, isDefault: observed?.['isDefault'] === true }];
      else if (item.kind === 'differs') phases[0] = () => (observed?.['isDefault'] === true ? [{ type: 'SetDefaultSipDomain', domain }] : []);
      else phases[8] = () => [{ type: 'RemoveSipDomain', domain, reason }];
      break;
    }
    case 'endpoint': {
      const sipAddress = id as SipUri;
      if (item.kind !== 'missing_in_ledger') phases[1] = () => [{ type: 'RemoveEndpoint', identity: sipAddress, reason }];
      if (item.kind !== 'missing_in_deployment' && observed) {
        const displayName = text(observed['displayName']);
        // The contact the deployment has: its objectGUID, so the ledger's DN is the deployment's.
        const contact = parseContactDistinguishedName(text(observed['distinguishedName']) ?? '');
        phases[6] = () => [
          { type: 'CreateEndpoint', sipAddress, poolFqdn: String(observed['poolFqdn']) as Fqdn, ...(displayName ? { displayName } : {}), ...(contact ? { objectGuid: contact.guid } : {}) },
        ];
      }
      break;
    }
    case 'principal': {
      const sipAddress = id as SipUri;
      const ledgerKind = item.ledger?.['kind'];
      if (item.kind !== 'missing_in_ledger') {
        phases[2] = (state) => {
          const principal = state.principals.get(sipAddress);
          if (ledgerKind === 'wellKnownUser' && principal?.legacyPoolFqdn) {
            return [{ type: 'DeleteWellKnownUser', sipAddress, legacyPoolFqdn: principal.legacyPoolFqdn, reason }];
          }
          return [{ type: 'DeleteSipPrincipal', sipAddress, reason }];
        };
      }
      if (item.kind !== 'missing_in_deployment' && observed) {
        const displayName = text(observed['displayName']);
        const kind = observed['kind'];
        phases[5] = (state) => {
          if (kind === 'user' || kind === 'contact') return [{ type: 'RegisterSipPrincipal', sipAddress, kind, ...(displayName ? { displayName } : {}) }];
          // A well-known user exists through its legacy pool (R15): defined with it, or restored for it.
          if (state.principals.get(sipAddress)?.kind === 'wellKnownUser') return [];
          const named = text(observed['legacyPoolFqdn']);
          const pool = named !== null ? state.legacyPools.get(named as Fqdn) : [...state.legacyPools.values()].find((p) => p.wellKnownSipAddress === sipAddress);
          if (!pool) throw new DriftNotAdoptable(item.entity, ['kind'], 'a well-known user belongs to a legacy Group Chat pool, and no legacy pool has this address; adopt or define the pool', 'R15');
          return [{ type: 'RestoreWellKnownUser', sipAddress, legacyPoolFqdn: pool.fqdn, displayName }];
        };
      }
      break;
    }
    case 'legacyPool': {
      const fqdn = id as Fqdn;
      if (item.kind === 'missing_in_deployment') {
        phases[7] = () => [{ type: 'DecommissionLegacyPool', fqdn, reason }];
        break;
      }
      if (!observed) break;
      if (item.kind === 'differs') {
        const fixed = (item.fields ?? []).filter((f) => f === 'version' || f === 'wellKnownSipAddress');
        if (fixed.length > 0) throw new DriftNotAdoptable(item.entity, fixed, 'a legacy pool keeps the version and well-known address it was defined with', 'R15');
      } else {
        const wellKnownSipAddress = String(observed['wellKnownSipAddress']) as SipUri;
        // Defining the pool creates its well-known user (R15): where the observation saw no such user at
        // that address (none, or another owner), it goes again at once, as migration step 4 deletes it.
        const owner = addresses.observedOwner(wellKnownSipAddress);
        const keep = owner === 'wellKnownUser' || owner === `wellKnownUser:${fqdn}` || (owner === undefined && !addresses.principalObserved(wellKnownSipAddress));
        // Deleting that user at once is a change of principals: only on the word of an observation that looked at them.
        if (!keep && !addresses.principalObserved(wellKnownSipAddress)) {
          throw new DriftNotAdoptable(
            item.entity,
            ['wellKnownSipAddress'],
            `defining the pool creates its well-known user ${wellKnownSipAddress}, which the observation saw owned by ${owner === 'endpoint' ? 'a Persistent Chat endpoint' : `a ${String(owner)}`} (one owner per URI); the snapshot has no principals section for that address, so the adoption may neither keep nor delete that user: collect principals too`,
            'R3',
            'principals',
          );
        }
        phases[3] = () => [
          { type: 'DefineLegacyGroupChatPool', fqdn, version: observed['version'] === 'OCS2007R2' ? 'OCS2007R2' : 'Lync2010', wellKnownSipAddress },
          ...(keep ? [] : [{ type: 'DeleteWellKnownUser', sipAddress: wellKnownSipAddress, legacyPoolFqdn: fqdn, reason } as const]),
        ];
      }
      const status = text(observed['status']);
      if (status !== null) {
        const previous = phases[3];
        phases[3] = (state) => {
          const before = previous ? previous(state) : [];
          let now = state;
          for (const command of before) now = decidedFold(item.entity, command, now);
          const current = now.legacyPools.get(fqdn)?.status;
          const moves: TopologyCommand[] = [];
          if (status === current || current === undefined) return before;
          if (status === 'Started') moves.push({ type: 'StartPool', fqdn });
          if (status === 'Stopped' || status === 'Decommissioned') if (current === 'Started') moves.push({ type: 'StopPool', fqdn });
          if (status === 'Decommissioned') moves.push({ type: 'DecommissionLegacyPool', fqdn, reason });
          return [...before, ...moves];
        };
      }
      break;
    }
    case 'persistentChatPool': {
      const fqdn = id as Fqdn;
      if (item.kind === 'missing_in_deployment') {
        phases[7] = (state) => [
          ...(state.persistentChatPools.get(fqdn)?.status === 'Started' ? [{ type: 'StopPool', fqdn } as const] : []),
          { type: 'RemovePersistentChatPool', fqdn, reason },
        ];
        break;
      }
      if (!observed) break;
      if (item.kind === 'differs' && (item.fields ?? []).includes('site')) {
        throw new DriftNotAdoptable(item.entity, ['site'], 'a pool stays in the site it was installed in (Topology Builder moves no pool between sites)');
      }
      phases[4] = (state) => persistentChatPoolCommands(fqdn, observed, state, item.kind === 'missing_in_ledger', reason);
      break;
    }
  }
  return phases;
}

/** Install (when new), then servers in, active servers, servers out, database state, status. */
function persistentChatPoolCommands(fqdn: Fqdn, observed: EntityView, state: TopologyState, install: boolean, reason: string): TopologyCommand[] {
  const servers = (list(observed['servers']) ?? []) as Fqdn[];
  const site = text(observed['site']);
  const commands: TopologyCommand[] = [];
  if (install) commands.push({ type: 'InstallPersistentChatPool', fqdn, servers, ...(site ? { site } : {}) });
  const entity = entityOfPool(fqdn);
  let now = install ? decidedFold(entity, commands[0]!, state) : state;
  const step = (command: TopologyCommand): void => {
    commands.push(command);
    now = decidedFold(entity, command, now);
  };
  const pool = (): NonNullable<ReturnType<TopologyState['persistentChatPools']['get']>> => now.persistentChatPools.get(fqdn)!;
  if (!now.persistentChatPools.has(fqdn)) return commands;
  for (const server of servers) if (!pool().servers.includes(server)) step({ type: 'AddPersistentChatServer', poolFqdn: fqdn, serverFqdn: server });
  const active = list(observed['activeServers']) as Fqdn[] | undefined;
  if (active !== undefined && !sameMembers(active, pool().activeServers)) {
    step({ type: 'SetPersistentChatActiveServers', poolFqdn: fqdn, change: active.length === 0 ? { kind: 'clear' } : { kind: 'replace', servers: active } });
  }
  if (observed['servers'] !== undefined) {
    for (const server of pool().servers) if (!servers.includes(server)) step({ type: 'RemovePersistentChatServer', poolFqdn: fqdn, serverFqdn: server, reason });
  }
  const poolState = observed['poolState'];
  if ((poolState === 'Normal' || poolState === 'FailedOver') && poolState !== pool().poolState) step({ type: 'SetPersistentChatState', poolFqdn: fqdn, poolState });
  const status = observed['status'];
  if (status === 'Started' && pool().status !== 'Started') step({ type: 'StartPool', fqdn });
  if (status === 'Stopped' && pool().status !== 'Stopped') {
    if (pool().status === 'Installed') step({ type: 'StartPool', fqdn });
    step({ type: 'StopPool', fqdn });
  }
  if (status === 'Installed' && pool().status !== 'Installed') {
    throw new DriftNotAdoptable(entityOfPool(fqdn), ['status'], `a pool that has been started (${pool().status}) is never Installed again`, 'R14');
  }
  return commands;
}

const entityOfPool = (fqdn: string): string => `persistentChatPool:${fqdn}`;

/** The state after `command`, for planning the next one; a refusal is the adoption's, naming the entity. */
function decidedFold(entity: string, command: TopologyCommand, state: TopologyState): TopologyState {
  try {
    return foldTopology(decide(command, state).events, state);
  } catch (error) {
    throw error instanceof DomainError ? new AdoptionRefused(entity, command.type, error) : error;
  }
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

/**
 * The events that bring the ledger (`state`) to what the drift items observed, decided command by
 * command by the topology decider, each on the state the previous ones left. `coverage` is what the
 * observation looked at (for what it saw absent that an adopted command would create as a side
 * effect, such as a legacy pool's well-known user). Any refusal stops the whole adoption (AdoptionRefused, with the decider's rule); so does an item that would still differ
 * after its commands (DriftNotAdoptable). Pure: nothing is recorded here.
 */
export function decideAdoption(state: TopologyState, items: readonly DriftItem[], reason: string, coverage: Coverage | null = null): Adoption {
  const owners = new Map<string, string>();
  for (const item of items) {
    const parsed = parseEntityKey(item.entity);
    if (!parsed || item.observed === null) continue;
    if (parsed.kind === 'endpoint') owners.set(parsed.id, 'endpoint');
    if (parsed.kind === 'principal') {
      const pool = item.observed['legacyPoolFqdn'];
      owners.set(parsed.id, typeof pool === 'string' ? `wellKnownUser:${pool}` : String(item.observed['kind']));
    }
  }
  const addresses: AddressContext = {
    observedOwner: (sipAddress) => owners.get(sipAddress),
    principalObserved: (sipAddress) => coverage !== null && covers(coverage, `principal:${sipAddress}`),
  };
  const planned = items.map((item) => ({ item, phases: phasesOf(item, reason, addresses) }));
  const steps: AdoptionStep[] = [];
  const events: TopologyEvent[] = [];
  const warnings: DomainWarning[] = [];
  // One fold for the whole adoption: folding per command would copy every collection per command.
  const fold = new TopologyFold(state);
  for (let phase = 0; phase < PHASES; phase++) {
    for (const { item, phases } of planned) {
      const plan = phases[phase];
      if (!plan) continue;
      let commands: TopologyCommand[];
      commands = plan(fold.state);
      for (const command of commands) {
        let decided;
        try {
          decided = decide(command, fold.state);
        } catch (error) {
          throw error instanceof DomainError ? new AdoptionRefused(item.entity, command.type, error) : error;
        }
        steps.push({ entity: item.entity, command });
        events.push(...decided.events);
        warnings.push(...decided.warnings);
        fold.apply(decided.events);
      }
    }
  }
  const current = fold.result();
  for (const item of items) {
    const after = ledgerViewOf(current, item.entity);
    if (item.observed === null) {
      if (after !== undefined) throw new DriftNotAdoptable(item.entity, [], 'the ledger still has it after the commands that remove it');
      continue;
    }
    const still = after === undefined ? Object.keys(item.observed) : fieldsThatDiffer(item.observed, after);
    if (still.length > 0) throw new DriftNotAdoptable(item.entity, still, 'no command of the ledger sets these fields to what was observed');
  }
  return { steps, events, warnings, state: current };
}
