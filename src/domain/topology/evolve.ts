import { assertNever } from '../errors';
import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import { distinguishedNameKey } from '../shared/distinguished-name';
import type { SharedMap, SharedMapDraft } from '../shared/shared-map';
import type { TopologyEvent } from './events';
import {
  type LegacyGroupChatPool,
  type PersistentChatEndpoint,
  type PersistentChatPool,
  type SipPrincipal,
  type TopologyState,
  initialState,
} from './state';

/** The state after `event`. Never changes `state`: what the event touches is copied, the rest is shared. */
export function evolve(state: TopologyState, event: TopologyEvent): TopologyState {
  return foldTopology([event], state);
}

/**
 * The state after all `events`, from `state` (the empty topology by default). Copies each
 * collection at most once for the whole fold, so loading a long stream stays linear.
 */
export function foldTopology(events: Iterable<TopologyEvent>, state: TopologyState = initialState()): TopologyState {
  const draft = new TopologyDraft(state);
  for (const event of events) apply(draft, event);
  return draft.result();
}

/**
 * A fold kept open across batches, for deciding a sequence of commands each on the state the
 * previous ones left without copying the collections per command. `state` is current after each
 * `apply` and is only valid until the next one; `result()` ends the fold.
 */
export class TopologyFold {
  private readonly draft: TopologyDraft;

  constructor(state: TopologyState) {
    this.draft = new TopologyDraft(state);
  }

  apply(events: Iterable<TopologyEvent>): void {
    for (const event of events) apply(this.draft, event);
  }

  get state(): TopologyState {
    return this.draft.read;
  }

  result(): TopologyState {
    return this.draft.result();
  }
}

/**
 * Applies one event. Events are facts already decided, so one that names something no longer
 * present changes nothing rather than failing the load of a stream.
 */
function apply(draft: TopologyDraft, event: TopologyEvent): void {
  switch (event.type) {
    case 'SipDomainRegistered': {
      draft.sipDomains().add(event.data.domain);
      if (event.data.isDefault) draft.defaultSipDomain = event.data.domain;
      return;
    }
    case 'DefaultSipDomainChanged':
      draft.defaultSipDomain = event.data.domain;
      return;
    case 'SipDomainRemoved': {
      draft.sipDomains().delete(event.data.domain);
      if (draft.defaultSipDomain === event.data.domain) draft.defaultSipDomain = null;
      return;
    }
    case 'SipPrincipalRegistered': {
      const { sipAddress, kind, displayName, legacyPoolFqdn } = event.data;
      const replaced = draft.read.principals.get(sipAddress);
      if (replaced?.kind === 'user') draft.userCount -= 1;
      const principal: SipPrincipal = { sipAddress, kind, displayName, legacyPoolFqdn };
      draft.principals().set(sipAddress, principal);
      if (kind === 'user') draft.userCount += 1;
      return;
    }
    case 'SipPrincipalDeleted': {
      const existing = draft.read.principals.get(event.data.sipAddress);
      if (!existing) return;
      draft.principals().delete(event.data.sipAddress);
      if (existing.kind === 'user') draft.userCount -= 1;
      return;
    }
    case 'LegacyGroupChatPoolDefined': {
      const { fqdn, version, wellKnownSipAddress, services, databaseInstance } = event.data;
      const pool: LegacyGroupChatPool = {
        fqdn,
        version,
        wellKnownSipAddress,
        services: { ...services },
        databaseInstance,
        status: 'Started',
        dataMigratedTo: null,
      };
      draft.legacyPools().set(fqdn, pool);
      return;
    }
    case 'LegacyGroupChatPoolDecommissioned':
      draft.updateLegacyPool(event.data.fqdn, (pool) => ({ ...pool, status: 'Decommissioned' }));
      return;
    case 'PersistentChatPoolInstalled': {
      const data = event.data;
      const pool: PersistentChatPool = {
        fqdn: data.fqdn,
        site: data.site,
        servers: [...data.servers],
        activeServers: [...data.activeServers],
        complianceEnabled: data.complianceEnabled,
        singleServer: data.singleServer,
        databaseInstance: data.databaseInstance,
        poolState: 'Normal',
        status: 'Installed',
        defaultContactSipAddress: data.defaultContactSipAddress,
      };
      draft.persistentChatPools().set(pool.fqdn, pool);
      draft.defaultPoolContacts().set(pool.defaultContactSipAddress, pool.fqdn);
      return;
    }
    case 'PersistentChatPoolRemoved': {
      const pool = draft.read.persistentChatPools.get(event.data.fqdn);
      if (!pool) return;
      draft.persistentChatPools().delete(pool.fqdn);
      draft.defaultPoolContacts().delete(pool.defaultContactSipAddress);
      return;
    }
    case 'PersistentChatServerAdded':
      draft.updatePersistentChatPool(event.data.poolFqdn, (pool) => ({
        ...pool,
        servers: [...pool.servers, event.data.serverFqdn],
      }));
      return;
    case 'PersistentChatServerRemoved':
      draft.updatePersistentChatPool(event.data.poolFqdn, (pool) => ({
        ...pool,
        servers: pool.servers.filter((server) => server !== event.data.serverFqdn),
        activeServers: pool.activeServers.filter((server) => server !== event.data.serverFqdn),
      }));
      return;
    case 'PersistentChatActiveServersChanged': {
      const active = new Set(event.data.activeServers);
      draft.updatePersistentChatPool(event.data.poolFqdn, (pool) => ({
        ...pool,
        activeServers: pool.servers.filter((server) => active.has(server)),
      }));
      return;
    }
    case 'PersistentChatStateChanged':
      draft.updatePersistentChatPool(event.data.poolFqdn, (pool) => ({ ...pool, poolState: event.data.poolState }));
      return;
    case 'PoolStarted':
    case 'PoolStopped': {
      const status = event.type === 'PoolStarted' ? 'Started' : 'Stopped';
      if (event.data.poolKind === 'persistentChat') {
        draft.updatePersistentChatPool(event.data.fqdn, (pool) => ({ ...pool, status }));
      } else {
        draft.updateLegacyPool(event.data.fqdn, (pool) => ({ ...pool, status }));
      }
      return;
    }
    case 'PersistentChatEndpointCreated': {
      const { sipAddress, poolFqdn, displayName, distinguishedName } = event.data;
      const endpoint: PersistentChatEndpoint = { sipAddress, poolFqdn, displayName, distinguishedName };
      const replaced = draft.read.endpoints.get(sipAddress);
      if (replaced) draft.unindexEndpoint(replaced);
      draft.endpoints().set(sipAddress, endpoint);
      draft.indexEndpoint(endpoint);
      return;
    }
    case 'PersistentChatEndpointRemoved': {
      const removed = draft.read.endpoints.get(event.data.sipAddress);
      if (removed) {
        draft.endpoints().delete(event.data.sipAddress);
        draft.unindexEndpoint(removed);
      }
      return;
    }
    case 'LegacyPoolDataImported':
      draft.updateLegacyPool(event.data.legacyPoolFqdn, (pool) => ({ ...pool, dataMigratedTo: event.data.targetPoolFqdn }));
      return;
    case 'LegacyPoolDataImportReverted':
      draft.updateLegacyPool(event.data.legacyPoolFqdn, (pool) => ({ ...pool, dataMigratedTo: null }));
      return;
    case 'PoolStartReverted':
      draft.updatePersistentChatPool(event.data.fqdn, (pool) => ({ ...pool, status: event.data.status }));
      return;
    default:
      assertNever(event);
  }
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type SharedCollection = 'principals' | 'endpoints' | 'endpointDistinguishedNames';
type SharedDrafts = { -readonly [C in SharedCollection]?: TopologyState[C] extends SharedMap<infer K, infer V> ? SharedMapDraft<K, V> : never };

/**
 * A copy-on-write view of a state: the first write to a collection copies it, later writes reuse
 * the copy. Records inside collections are replaced, never changed, so sharing them is safe.
 */
class TopologyDraft {
  private readonly next: Writable<TopologyState>;
  private readonly copied = new Set<keyof TopologyState>();
  /** Drafts of the collections shared between versions (see `TopologyState`). */
  private drafts: SharedDrafts = {};

  constructor(state: TopologyState) {
    this.next = { ...state };
  }

  /** The current values, for reading only. */
  get read(): TopologyState {
    return this.next;
  }

  get defaultSipDomain(): Fqdn | null {
    return this.next.defaultSipDomain;
  }
  set defaultSipDomain(domain: Fqdn | null) {
    this.next.defaultSipDomain = domain;
  }

  get userCount(): number {
    return this.next.userCount;
  }
  set userCount(count: number) {
    this.next.userCount = count;
  }

  sipDomains(): Set<Fqdn> {
    if (this.firstWrite('sipDomains')) this.next.sipDomains = new Set(this.next.sipDomains);
    return this.next.sipDomains as Set<Fqdn>;
  }

  principals(): SharedMapDraft<SipUri, SipPrincipal> {
    return (this.drafts.principals ??= this.editing('principals', this.next.principals.edit()));
  }

  endpoints(): SharedMapDraft<SipUri, PersistentChatEndpoint> {
    return (this.drafts.endpoints ??= this.editing('endpoints', this.next.endpoints.edit()));
  }

  persistentChatPools(): Map<Fqdn, PersistentChatPool> {
    if (this.firstWrite('persistentChatPools')) this.next.persistentChatPools = new Map(this.next.persistentChatPools);
    return this.next.persistentChatPools as Map<Fqdn, PersistentChatPool>;
  }

  legacyPools(): Map<Fqdn, LegacyGroupChatPool> {
    if (this.firstWrite('legacyPools')) this.next.legacyPools = new Map(this.next.legacyPools);
    return this.next.legacyPools as Map<Fqdn, LegacyGroupChatPool>;
  }

  defaultPoolContacts(): Map<SipUri, Fqdn> {
    if (this.firstWrite('defaultPoolContacts')) this.next.defaultPoolContacts = new Map(this.next.defaultPoolContacts);
    return this.next.defaultPoolContacts as Map<SipUri, Fqdn>;
  }

  /** Adds an endpoint to the indexes by distinguished name and by pool. */
  indexEndpoint(endpoint: PersistentChatEndpoint): void {
    const key = distinguishedNameKey(endpoint.distinguishedName);
    const names = this.endpointDistinguishedNames();
    names.set(key, [...(names.get(key) ?? []), endpoint.sipAddress]);
    const counts = this.endpointCountByPool();
    counts.set(endpoint.poolFqdn, (counts.get(endpoint.poolFqdn) ?? 0) + 1);
  }

  /** Takes an endpoint out of the indexes (before or after it leaves `endpoints`). */
  unindexEndpoint(endpoint: PersistentChatEndpoint): void {
    const key = distinguishedNameKey(endpoint.distinguishedName);
    const holders = this.next.endpointDistinguishedNames.get(key) ?? [];
    const rest = holders.filter((sip) => sip !== endpoint.sipAddress);
    if (rest.length === 0) this.endpointDistinguishedNames().delete(key);
    else this.endpointDistinguishedNames().set(key, rest);
    const count = (this.next.endpointCountByPool.get(endpoint.poolFqdn) ?? 0) - 1;
    if (count > 0) this.endpointCountByPool().set(endpoint.poolFqdn, count);
    else this.endpointCountByPool().delete(endpoint.poolFqdn);
  }

  private endpointDistinguishedNames(): SharedMapDraft<string, readonly SipUri[]> {
    return (this.drafts.endpointDistinguishedNames ??= this.editing('endpointDistinguishedNames', this.next.endpointDistinguishedNames.edit()));
  }

  /** The draft of a shared collection answers reads of the state from now on. */
  private editing<C extends SharedCollection>(collection: C, draft: NonNullable<SharedDrafts[C]>): NonNullable<SharedDrafts[C]> {
    (this.next as Record<SharedCollection, unknown>)[collection] = draft;
    return draft;
  }

  private endpointCountByPool(): Map<Fqdn, number> {
    if (this.firstWrite('endpointCountByPool')) this.next.endpointCountByPool = new Map(this.next.endpointCountByPool);
    return this.next.endpointCountByPool as Map<Fqdn, number>;
  }

  updatePersistentChatPool(fqdn: Fqdn, change: (pool: PersistentChatPool) => PersistentChatPool): void {
    const pool = this.next.persistentChatPools.get(fqdn);
    if (pool) this.persistentChatPools().set(fqdn, change(pool));
  }

  updateLegacyPool(fqdn: Fqdn, change: (pool: LegacyGroupChatPool) => LegacyGroupChatPool): void {
    const pool = this.next.legacyPools.get(fqdn);
    if (pool) this.legacyPools().set(fqdn, change(pool));
  }

  result(): TopologyState {
    const { principals, endpoints, endpointDistinguishedNames } = this.drafts;
    if (principals) this.next.principals = principals.done();
    if (endpoints) this.next.endpoints = endpoints.done();
    if (endpointDistinguishedNames) this.next.endpointDistinguishedNames = endpointDistinguishedNames.done();
    // Writes after this copy again: the collections of the state given out are never written.
    this.drafts = {};
    this.copied.clear();
    return { ...this.next };
  }

  private firstWrite(collection: keyof TopologyState): boolean {
    if (this.copied.has(collection)) return false;
    this.copied.add(collection);
    return true;
  }
}
