import { TOPOLOGY_CATEGORY } from '../../src/domain/events/streams';
import type { RecordedEvent } from '../../src/event-store/event-store';
import type { TopologyEvent } from '../../src/domain/topology';
import type { Change, Projection, ReadModelView, Row, SqlValue, TableSpec } from '../runner/projection';
import { toTopologyEvent } from '../../src/domain/events';

/**
 * The topology of every deployment as rows, one table per kind of entity, each keyed by deployment
 * and the entity's own key. Temporal tables keep every version of a row, so the topology as of any
 * log position is a set of index lookups, never a replay. It mirrors the write side's `evolve`:
 * the same events leave the same topology here as there.
 */

export const TOPOLOGY_TABLES = {
  /** One row per deployment, from its first event. */
  deployments: 'deployments',
  /** One row per event of a topology stream: its position, deployment, revision and time, for `asOf`. */
  history: 'history',
  sipDomains: 'sip_domains',
  /** Users, contacts and the well-known users of legacy Group Chat pools. */
  principals: 'principals',
  legacyPools: 'legacy_pools',
  /** Servers are JSON lists on the pool row: a pool holds at most 8 (R10), always read with its pool. */
  persistentChatPools: 'persistent_chat_pools',
  endpoints: 'endpoints',
} as const;

const T = TOPOLOGY_TABLES;

const tables: readonly TableSpec[] = [
  { name: T.deployments, key: ['deployment'], columns: ['first_position', 'created_at'], temporal: false },
  {
    name: T.history,
    // Keyed by position alone: a rebuild appends to the end of the table instead of inserting into a text-keyed tree.
    key: ['position'],
    integerKey: true,
    columns: ['deployment', 'revision', 'recorded_at'],
    temporal: false,
    // A deployment's last event at or before a position, and at or before a moment (`asOf`): one index seek each.
    indexes: [
      ['deployment', 'position'],
      ['deployment', 'recorded_at', 'position'],
    ],
  },
  // No index on is_default: finding a deployment's default walks its few domains by the key's prefix.
  { name: T.sipDomains, key: ['deployment', 'domain'], columns: ['is_default'], temporal: true },
  { name: T.principals, key: ['deployment', 'sip_address'], columns: ['kind', 'display_name', 'legacy_pool_fqdn'], temporal: true },
  {
    name: T.legacyPools,
    key: ['deployment', 'fqdn'],
    columns: ['version', 'status', 'well_known_sip_address', 'services', 'database_instance', 'data_migrated_to'],
    temporal: true,
  },
  {
    name: T.persistentChatPools,
    key: ['deployment', 'fqdn'],
    columns: [
      'site',
      'status',
      'pool_state',
      'compliance_enabled',
      'single_server',
      'database_instance',
      'default_contact_sip_address',
      'servers',
      'active_servers',
    ],
    temporal: true,
  },
  {
    name: T.endpoints,
    key: ['deployment', 'sip_address'],
    columns: ['pool_fqdn', 'display_name', 'distinguished_name'],
    temporal: true,
    indexes: [['deployment', 'pool_fqdn']],
  },
];

const STREAM_PREFIX = `${TOPOLOGY_CATEGORY}-`;

/** The deployment whose topology stream `streamId` is, or undefined for any other stream. */
export function topologyDeploymentOf(streamId: string): string | undefined {
  return streamId.startsWith(STREAM_PREFIX) ? streamId.slice(STREAM_PREFIX.length) : undefined;
}

/** A recorded event of a topology stream as the domain's event (the write side appends nothing else there). */
export function asTopologyEvent(event: RecordedEvent): TopologyEvent {
  return toTopologyEvent(event);
}

export const topologyProjection: Projection = {
  name: 'topology',
  // 2: history keyed by position alone (integer key), without the event type; no index on sip_domains.is_default.
  version: 2,
  tables,
  project(event: RecordedEvent, view: ReadModelView): readonly Change[] {
    const deployment = topologyDeploymentOf(event.streamId);
    if (deployment === undefined) return [];
    const changes: Change[] = [];
    if (event.revision === 0) {
      changes.push(put(T.deployments, { deployment, first_position: event.position, created_at: event.created.toISOString() }));
    }
    changes.push(
      put(T.history, { position: event.position, deployment, revision: event.revision, recorded_at: event.created.toISOString() }),
    );
    applyTopologyEvent(asTopologyEvent(event), deployment, view, changes);
    return changes;
  },
};

/**
 * The changes one event makes, appended to `changes`. As in `evolve`, an event that names something
 * no longer present changes nothing, and an event type this version does not know changes nothing
 * (the runner must not stop on it).
 */
function applyTopologyEvent(event: TopologyEvent, deployment: string, view: ReadModelView, changes: Change[]): void {
  switch (event.type) {
    case 'SipDomainRegistered': {
      const { domain, isDefault } = event.data;
      // Registering a domain that is already the default keeps it the default, as evolve does.
      const wasDefault = view.get(T.sipDomains, { deployment, domain })?.['is_default'] === 1;
      if (isDefault) demoteDefaultDomains(deployment, domain, view, changes);
      changes.push(put(T.sipDomains, { deployment, domain, is_default: isDefault || wasDefault ? 1 : 0 }));
      return;
    }
    case 'DefaultSipDomainChanged': {
      const { domain } = event.data;
      demoteDefaultDomains(deployment, domain, view, changes);
      // A row can only mark a registered domain; the decider never names another one.
      if (view.get(T.sipDomains, { deployment, domain })) changes.push(put(T.sipDomains, { deployment, domain, is_default: 1 }));
      return;
    }
    case 'SipDomainRemoved':
      // Removing the default leaves none, which is what an absent row with is_default = 1 means.
      changes.push(remove(T.sipDomains, { deployment, domain: event.data.domain }));
      return;
    case 'SipPrincipalRegistered': {
      const { sipAddress, kind, displayName, legacyPoolFqdn } = event.data;
      changes.push(
        put(T.principals, { deployment, sip_address: sipAddress, kind, display_name: displayName, legacy_pool_fqdn: legacyPoolFqdn }),
      );
      return;
    }
    case 'SipPrincipalDeleted':
      changes.push(remove(T.principals, { deployment, sip_address: event.data.sipAddress }));
      return;
    case 'LegacyGroupChatPoolDefined': {
      const { fqdn, version, wellKnownSipAddress, services, databaseInstance } = event.data;
      changes.push(
        put(T.legacyPools, {
          deployment,
          fqdn,
          version,
          // A defined legacy pool is one that already runs (R14).
          status: 'Started',
          well_known_sip_address: wellKnownSipAddress,
          services: JSON.stringify({ lookup: services.lookup, channel: services.channel, web: services.web, compliance: services.compliance }),
          database_instance: databaseInstance,
          data_migrated_to: null,
        }),
      );
      return;
    }
    case 'LegacyGroupChatPoolDecommissioned':
      // Only the status changes: evolve takes `dataMigratedTo` from the pool, not from this event.
      updateRow(T.legacyPools, { deployment, fqdn: event.data.fqdn }, view, changes, () => ({ status: 'Decommissioned' }));
      return;
    case 'PersistentChatPoolInstalled': {
      const data = event.data;
      changes.push(
        put(T.persistentChatPools, {
          deployment,
          fqdn: data.fqdn,
          site: data.site,
          // A new pool starts Installed, in the Normal state.
          status: 'Installed',
          pool_state: 'Normal',
          compliance_enabled: data.complianceEnabled ? 1 : 0,
          single_server: data.singleServer ? 1 : 0,
          database_instance: data.databaseInstance,
          default_contact_sip_address: data.defaultContactSipAddress,
          servers: JSON.stringify(data.servers),
          active_servers: JSON.stringify(data.activeServers),
        }),
      );
      return;
    }
    case 'PersistentChatPoolRemoved':
      // Its default pool contact is a column of the row, so it goes with it.
      changes.push(remove(T.persistentChatPools, { deployment, fqdn: event.data.fqdn }));
      return;
    case 'PersistentChatServerAdded': {
      const { poolFqdn, serverFqdn } = event.data;
      updateRow(T.persistentChatPools, { deployment, fqdn: poolFqdn }, view, changes, (pool) => ({
        servers: JSON.stringify([...serverList(pool, 'servers'), serverFqdn]),
      }));
      return;
    }
    case 'PersistentChatServerRemoved': {
      const { poolFqdn, serverFqdn } = event.data;
      updateRow(T.persistentChatPools, { deployment, fqdn: poolFqdn }, view, changes, (pool) => ({
        servers: JSON.stringify(serverList(pool, 'servers').filter((server) => server !== serverFqdn)),
        active_servers: JSON.stringify(serverList(pool, 'active_servers').filter((server) => server !== serverFqdn)),
      }));
      return;
    }
    case 'PersistentChatActiveServersChanged': {
      const active = new Set<string>(event.data.activeServers);
      // Active servers are kept in the order the servers joined the pool (R12), whatever order the event lists them in.
      updateRow(T.persistentChatPools, { deployment, fqdn: event.data.poolFqdn }, view, changes, (pool) => ({
        active_servers: JSON.stringify(serverList(pool, 'servers').filter((server) => active.has(server))),
      }));
      return;
    }
    case 'PersistentChatStateChanged':
      updateRow(T.persistentChatPools, { deployment, fqdn: event.data.poolFqdn }, view, changes, () => ({ pool_state: event.data.poolState }));
      return;
    case 'PoolStarted':
    case 'PoolStopped': {
      const status = event.type === 'PoolStarted' ? 'Started' : 'Stopped';
      const table = event.data.poolKind === 'persistentChat' ? T.persistentChatPools : T.legacyPools;
      updateRow(table, { deployment, fqdn: event.data.fqdn }, view, changes, () => ({ status }));
      return;
    }
    case 'PersistentChatEndpointCreated': {
      const { sipAddress, poolFqdn, displayName, distinguishedName } = event.data;
      changes.push(
        put(T.endpoints, {
          deployment,
          sip_address: sipAddress,
          pool_fqdn: poolFqdn,
          display_name: displayName,
          distinguished_name: distinguishedName,
        }),
      );
      return;
    }
    case 'PersistentChatEndpointRemoved':
      changes.push(remove(T.endpoints, { deployment, sip_address: event.data.sipAddress }));
      return;
    case 'LegacyPoolDataImported':
      updateRow(T.legacyPools, { deployment, fqdn: event.data.legacyPoolFqdn }, view, changes, () => ({ data_migrated_to: event.data.targetPoolFqdn }));
      return;
    case 'LegacyPoolDataImportReverted':
      updateRow(T.legacyPools, { deployment, fqdn: event.data.legacyPoolFqdn }, view, changes, () => ({ data_migrated_to: null }));
      return;
    case 'PoolStartReverted':
      updateRow(T.persistentChatPools, { deployment, fqdn: event.data.fqdn }, view, changes, () => ({ status: event.data.status }));
      return;
    default:
      // Compile-time check that every event type is handled; at run time an unknown type changes nothing.
      event satisfies never;
      return;
  }
}

/** Every domain other than `domain` that is marked default stops being it: a deployment has one default. */
function demoteDefaultDomains(deployment: string, domain: string, view: ReadModelView, changes: Change[]): void {
  for (const current of view.find(T.sipDomains, { deployment, is_default: 1 })) {
    if (current['domain'] !== domain) changes.push(put(T.sipDomains, { deployment, domain: current['domain'] ?? null, is_default: 0 }));
  }
}

/** Replaces some columns of an existing row; nothing when the row does not exist (as evolve ignores it). */
function updateRow(
  table: string,
  key: Row,
  view: ReadModelView,
  changes: Change[],
  change: (current: Row) => Record<string, SqlValue>,
): void {
  const current = view.get(table, key);
  if (current) changes.push(put(table, { ...current, ...change(current), ...key }));
}

/** A JSON list of server FQDNs stored in `column`. */
export function serverList(row: Row, column: 'servers' | 'active_servers'): string[] {
  const value = row[column];
  if (typeof value !== 'string') return [];
  const parsed: unknown = JSON.parse(value);
  return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
}

function put(table: string, row: Row): Change {
  return { kind: 'put', table, row };
}

function remove(table: string, key: Row): Change {
  return { kind: 'delete', table, key };
}
