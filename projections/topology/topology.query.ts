import { canonicalJson } from '../../src/common/canonical-json';
import type { JsonObject, JsonValue } from '../../src/event-store/event-store';
import type {
  LegacyGroupChatPoolStatus,
  LegacyGroupChatVersion,
  PersistentChatPoolState,
  PersistentChatPoolStatus,
  SipPrincipalKind,
} from '../../src/domain/topology';
import type { Row, RowQuery, SqlValue, TableReader } from '../runner/projection';
import { TOPOLOGY_TABLES as T, serverList } from './topology.projection';

/**
 * Queries over the topology projection's tables: the whole topology of a deployment now or as of a
 * log position, and what changed between two positions. Each is a few indexed reads; none replays
 * the log. The shapes are `type` aliases (not interfaces) so that they are JSON objects as they stand.
 */

export type SipDomainEntry = { domain: string; isDefault: boolean };

export type PrincipalEntry = {
  sipAddress: string;
  kind: SipPrincipalKind;
  displayName: string | null;
  /** The legacy pool a well-known user routes clients to; null for users and contacts. */
  legacyPoolFqdn: string | null;
};

export type LegacyPoolServices = { lookup: string; channel: string; web: string | null; compliance: string | null };

export type LegacyPoolEntry = {
  fqdn: string;
  version: LegacyGroupChatVersion;
  status: LegacyGroupChatPoolStatus;
  wellKnownSipAddress: string;
  /** The well-known user that still routes legacy clients to this pool; null once it is deleted (migration step 4). */
  wellKnownUser: { sipAddress: string; displayName: string | null } | null;
  services: LegacyPoolServices;
  databaseInstance: string | null;
  dataMigratedTo: string | null;
};

export type PersistentChatServerEntry = { fqdn: string; active: boolean };

export type PersistentChatPoolEntry = {
  fqdn: string;
  site: string | null;
  status: PersistentChatPoolStatus;
  /** R11: Normal (primary databases) or FailedOver (backup databases). */
  state: PersistentChatPoolState;
  complianceEnabled: boolean;
  singleServer: boolean;
  databaseInstance: string | null;
  /** The default pool contact created with the pool (R7). */
  defaultContactSipAddress: string;
  /** In the order they joined the pool. */
  servers: PersistentChatServerEntry[];
  endpointCount: number;
};

export type EndpointEntry = {
  sipAddress: string;
  poolFqdn: string;
  displayName: string | null;
  distinguishedName: string;
};

/** `GET /api/topology`: one deployment's topology, each list sorted by its key. */
export type Topology = {
  deployment: string;
  /** The position of the deployment's last event the topology includes; null before its first. */
  position: number | null;
  /** That event's revision in the deployment's stream; null before its first. */
  revision: number | null;
  sipDomains: SipDomainEntry[];
  defaultSipDomain: string | null;
  principals: PrincipalEntry[];
  legacyPools: LegacyPoolEntry[];
  persistentChatPools: PersistentChatPoolEntry[];
  endpoints: EndpointEntry[];
};

/** The topology of `deployment` now, or as of log position `atPosition` (inclusive). */
export function readTopology(reader: TableReader, deployment: string, atPosition?: number): Topology {
  const rowsOf = (table: string): Row[] => reader.rows(table, at(atPosition, { where: { deployment } }));

  const sipDomains = rowsOf(T.sipDomains).map((row) => ({ domain: text(row, 'domain'), isDefault: row['is_default'] === 1 }));
  const principals = rowsOf(T.principals).map(principalEntry);
  const endpoints = rowsOf(T.endpoints).map(endpointEntry);

  const principalsByAddress = new Map(principals.map((principal) => [principal.sipAddress, principal]));
  const legacyPools = rowsOf(T.legacyPools).map((row): LegacyPoolEntry => {
    const fqdn = text(row, 'fqdn');
    const wellKnownSipAddress = text(row, 'well_known_sip_address');
    // As the domain's `wellKnownUserOf`: the address must still be owned by this pool's well-known user.
    const principal = principalsByAddress.get(wellKnownSipAddress);
    const routesHere = principal?.kind === 'wellKnownUser' && principal.legacyPoolFqdn === fqdn;
    return legacyPoolEntry(row, routesHere ? { sipAddress: principal.sipAddress, displayName: principal.displayName } : null);
  });

  const endpointCounts = new Map<string, number>();
  for (const endpoint of endpoints) endpointCounts.set(endpoint.poolFqdn, (endpointCounts.get(endpoint.poolFqdn) ?? 0) + 1);
  const persistentChatPools = rowsOf(T.persistentChatPools).map((row) => persistentChatPoolEntry(row, endpointCounts.get(text(row, 'fqdn')) ?? 0));

  const last = lastEvent(reader, deployment, atPosition);
  return {
    deployment,
    position: last ? integer(last, 'position') : null,
    revision: last ? integer(last, 'revision') : null,
    sipDomains: sortBy(sipDomains, (domain) => domain.domain),
    defaultSipDomain: sipDomains.find((domain) => domain.isDefault)?.domain ?? null,
    principals: sortBy(principals, (principal) => principal.sipAddress),
    legacyPools: sortBy(legacyPools, (pool) => pool.fqdn),
    persistentChatPools: sortBy(persistentChatPools, (pool) => pool.fqdn),
    endpoints: sortBy(endpoints, (endpoint) => endpoint.sipAddress),
  };
}

/**
 * One entity of `deployment` as of log position `atPosition` (inclusive), as the topology lists it
 * without what is derived from other entities (a legacy pool's well-known user, a pool's endpoint
 * count); null when it does not exist then. `kind` and `id` as the audit trail names entities
 * (a server is `pool/server`). Undefined for a kind the topology does not hold.
 */
export function entityAt(reader: TableReader, deployment: string, kind: string, id: string, atPosition: number): JsonObject | null | undefined {
  const one = (table: string, where: Row): Row | undefined => reader.rows(table, { where: { deployment, ...where }, atPosition, limit: 1 })[0];
  switch (kind) {
    case 'sipDomain': {
      const row = one(T.sipDomains, { domain: id });
      return row ? { domain: text(row, 'domain'), isDefault: row['is_default'] === 1 } : null;
    }
    case 'principal': {
      const row = one(T.principals, { sip_address: id });
      return row ? principalEntry(row) : null;
    }
    case 'endpoint': {
      const row = one(T.endpoints, { sip_address: id });
      return row ? endpointEntry(row) : null;
    }
    case 'legacyPool': {
      const row = one(T.legacyPools, { fqdn: id });
      if (!row) return null;
      const { wellKnownUser: _derived, ...pool } = legacyPoolEntry(row, null);
      return pool;
    }
    case 'persistentChatPool': {
      const row = one(T.persistentChatPools, { fqdn: id });
      if (!row) return null;
      const { endpointCount: _derived, ...pool } = persistentChatPoolEntry(row, 0);
      return pool;
    }
    case 'server': {
      const slash = id.indexOf('/');
      const row = slash > 0 ? one(T.persistentChatPools, { fqdn: id.slice(0, slash) }) : undefined;
      const server = id.slice(slash + 1);
      if (!row || !serverList(row, 'servers').includes(server)) return null;
      return { poolFqdn: id.slice(0, slash), fqdn: server, active: serverList(row, 'active_servers').includes(server) };
    }
    default:
      return undefined;
  }
}

function principalEntry(row: Row): PrincipalEntry {
  return {
    sipAddress: text(row, 'sip_address'),
    kind: oneOf(row, 'kind', SIP_PRINCIPAL_KINDS),
    displayName: optionalText(row, 'display_name'),
    legacyPoolFqdn: optionalText(row, 'legacy_pool_fqdn'),
  };
}

function endpointEntry(row: Row): EndpointEntry {
  return {
    sipAddress: text(row, 'sip_address'),
    poolFqdn: text(row, 'pool_fqdn'),
    displayName: optionalText(row, 'display_name'),
    distinguishedName: text(row, 'distinguished_name'),
  };
}

function legacyPoolEntry(row: Row, wellKnownUser: LegacyPoolEntry['wellKnownUser']): LegacyPoolEntry {
  return {
    fqdn: text(row, 'fqdn'),
    version: oneOf(row, 'version', LEGACY_VERSIONS),
    status: oneOf(row, 'status', LEGACY_STATUSES),
    wellKnownSipAddress: text(row, 'well_known_sip_address'),
    wellKnownUser,
    services: legacyServices(row),
    databaseInstance: optionalText(row, 'database_instance'),
    dataMigratedTo: optionalText(row, 'data_migrated_to'),
  };
}

function persistentChatPoolEntry(row: Row, endpointCount: number): PersistentChatPoolEntry {
  const active = new Set(serverList(row, 'active_servers'));
  return {
    fqdn: text(row, 'fqdn'),
    site: optionalText(row, 'site'),
    status: oneOf(row, 'status', PC_STATUSES),
    state: oneOf(row, 'pool_state', PC_STATES),
    complianceEnabled: row['compliance_enabled'] === 1,
    singleServer: row['single_server'] === 1,
    databaseInstance: optionalText(row, 'database_instance'),
    defaultContactSipAddress: text(row, 'default_contact_sip_address'),
    servers: serverList(row, 'servers').map((server) => ({ fqdn: server, active: active.has(server) })),
    endpointCount,
  };
}

/** A deployment the store holds a topology for. */
export type DeploymentEntry = { deployment: string; firstPosition: number; createdAt: string };

/** Every deployment with a topology stream, by name. */
export function listDeployments(reader: TableReader): DeploymentEntry[] {
  return reader.rows(T.deployments, { orderBy: ['deployment'] }).map((row) => ({
    deployment: text(row, 'deployment'),
    firstPosition: integer(row, 'first_position'),
    createdAt: text(row, 'created_at'),
  }));
}

/**
 * The log position to read `deployment` at for the moment `asOf`: its last event recorded at or
 * before then, or -1 (before any event) when it had none yet.
 */
export function positionAsOf(reader: TableReader, deployment: string, asOf: Date): number {
  const [last] = reader.rows(T.history, {
    where: { deployment },
    range: { recorded_at: { to: asOf.toISOString() } },
    orderBy: ['recorded_at', 'position'],
    descending: true,
    limit: 1,
  });
  return last ? integer(last, 'position') : -1;
}

/**
 * A moment as the query string gives it (`?atPosition=`, `?asOf=`, or the diff's `from=`/`to=`):
 * digits are a log position, anything else an ISO-8601 time. Undefined when it is neither.
 */
export function positionOfMoment(reader: TableReader, deployment: string, moment: string): number | undefined {
  const trimmed = moment.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Only full ISO-8601 dates: Date.parse also accepts loose forms that would silently mean something else.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed)) return undefined;
  const time = Date.parse(trimmed);
  return Number.isNaN(time) ? undefined : positionAsOf(reader, deployment, new Date(time));
}

// ---------------------------------------------------------------------------------------------
// Diff

export type TopologyEntityKind = 'sipDomain' | 'principal' | 'legacyPool' | 'persistentChatPool' | 'endpoint';

/** The order entities are listed in: what others depend on first. */
const ENTITY_KINDS: readonly TopologyEntityKind[] = ['sipDomain', 'principal', 'legacyPool', 'persistentChatPool', 'endpoint'];

export type EntityAdded = { entity: TopologyEntityKind; key: string; after: JsonObject };
export type EntityRemoved = { entity: TopologyEntityKind; key: string; before: JsonObject };
export type EntityChanged = {
  entity: TopologyEntityKind;
  key: string;
  before: JsonObject;
  after: JsonObject;
  /** The fields whose values differ, in the entity's field order. */
  fields: string[];
};

/** `GET /api/topology/diff`: what was added, removed and changed, entity by entity, sorted by kind then key. */
export type TopologyDiff = {
  deployment: string;
  from: { position: number | null; revision: number | null };
  to: { position: number | null; revision: number | null };
  added: EntityAdded[];
  removed: EntityRemoved[];
  changed: EntityChanged[];
};

/**
 * What differs between two topologies of one deployment. Counts derived from other entities
 * (a pool's endpoint count, a legacy pool's well-known user) are left out: the entity that
 * changed is listed itself, so the same change is not reported twice.
 */
export function diffTopology(before: Topology, after: Topology): TopologyDiff {
  const was = entitiesOf(before);
  const is = entitiesOf(after);
  const added: EntityAdded[] = [];
  const removed: EntityRemoved[] = [];
  const changed: EntityChanged[] = [];
  for (const [id, old] of was) {
    const current = is.get(id);
    if (!current) {
      removed.push({ entity: old.entity, key: old.key, before: old.value });
      continue;
    }
    const fields = Object.keys(current.value).filter((field) => canonicalJson(old.value[field]) !== canonicalJson(current.value[field]));
    if (fields.length > 0) changed.push({ entity: old.entity, key: old.key, before: old.value, after: current.value, fields });
  }
  for (const [id, current] of is) {
    if (!was.has(id)) added.push({ entity: current.entity, key: current.key, after: current.value });
  }
  return {
    deployment: after.deployment,
    from: { position: before.position, revision: before.revision },
    to: { position: after.position, revision: after.revision },
    added: sortEntities(added),
    removed: sortEntities(removed),
    changed: sortEntities(changed),
  };
}

/** The diff of `deployment` between two log positions: two as-of reads, no replay. */
export function diffTopologyBetween(reader: TableReader, deployment: string, fromPosition: number, toPosition: number): TopologyDiff {
  return diffTopology(readTopology(reader, deployment, fromPosition), readTopology(reader, deployment, toPosition));
}

interface Entity {
  readonly entity: TopologyEntityKind;
  readonly key: string;
  readonly value: JsonObject;
}

function entitiesOf(topology: Topology): Map<string, Entity> {
  const entities = new Map<string, Entity>();
  const add = (entity: TopologyEntityKind, key: string, value: JsonObject): void => {
    entities.set(`${entity}\u0000${key}`, { entity, key, value });
  };
  for (const domain of topology.sipDomains) add('sipDomain', domain.domain, domain);
  for (const principal of topology.principals) add('principal', principal.sipAddress, principal);
  for (const { wellKnownUser: _derived, ...pool } of topology.legacyPools) add('legacyPool', pool.fqdn, pool);
  for (const { endpointCount: _derived, ...pool } of topology.persistentChatPools) add('persistentChatPool', pool.fqdn, pool);
  for (const endpoint of topology.endpoints) add('endpoint', endpoint.sipAddress, endpoint);
  return entities;
}

function sortEntities<E extends { entity: TopologyEntityKind; key: string }>(entries: E[]): E[] {
  return entries.sort((a, b) => ENTITY_KINDS.indexOf(a.entity) - ENTITY_KINDS.indexOf(b.entity) || compareText(a.key, b.key));
}

// ---------------------------------------------------------------------------------------------
// Rows to values

const SIP_PRINCIPAL_KINDS = ['user', 'contact', 'wellKnownUser'] as const satisfies readonly SipPrincipalKind[];
const LEGACY_VERSIONS = ['Lync2010', 'OCS2007R2'] as const satisfies readonly LegacyGroupChatVersion[];
const LEGACY_STATUSES = ['Started', 'Stopped', 'Decommissioned'] as const satisfies readonly LegacyGroupChatPoolStatus[];
const PC_STATUSES = ['Installed', 'Started', 'Stopped'] as const satisfies readonly PersistentChatPoolStatus[];
const PC_STATES = ['Normal', 'FailedOver'] as const satisfies readonly PersistentChatPoolState[];

/** The deployment's last history row at or before `atPosition` (or at all). */
function lastEvent(reader: TableReader, deployment: string, atPosition: number | undefined): Row | undefined {
  const query: RowQuery = { where: { deployment }, orderBy: ['position'], descending: true, limit: 1 };
  const [last] = reader.rows(T.history, atPosition === undefined ? query : { ...query, range: { position: { to: atPosition } } });
  return last;
}

/** `query` as of `atPosition`, when one is given (the option must be absent, not undefined, otherwise). */
function at(atPosition: number | undefined, query: RowQuery): RowQuery {
  return atPosition === undefined ? query : { ...query, atPosition };
}

function legacyServices(row: Row): LegacyPoolServices {
  const parsed = JSON.parse(text(row, 'services')) as Record<string, JsonValue>;
  const name = (service: string): string | null => {
    const value = parsed[service];
    return typeof value === 'string' ? value : null;
  };
  return { lookup: name('lookup') ?? '', channel: name('channel') ?? '', web: name('web'), compliance: name('compliance') };
}

function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw new ReadModelCorrupt(column, value);
  return value;
}

function optionalText(row: Row, column: string): string | null {
  const value = row[column] ?? null;
  if (value !== null && typeof value !== 'string') throw new ReadModelCorrupt(column, value);
  return value;
}

function integer(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== 'number') throw new ReadModelCorrupt(column, value);
  return value;
}

function oneOf<V extends string>(row: Row, column: string, values: readonly V[]): V {
  const value = row[column];
  const found = values.find((candidate) => candidate === value);
  if (found === undefined) throw new ReadModelCorrupt(column, value);
  return found;
}

/** The read model holds a value its projection never writes: a bug or a foreign write, not bad input. */
export class ReadModelCorrupt extends Error {
  constructor(column: string, value: SqlValue | undefined) {
    super(`topology read model: unexpected value ${JSON.stringify(value ?? null)} in column ${column}`);
    this.name = 'ReadModelCorrupt';
  }
}

/** Code-point order, the same on every platform (localeCompare is not). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortBy<E>(entries: E[], key: (entry: E) => string): E[] {
  return entries.sort((a, b) => compareText(key(a), key(b)));
}
