import type { LegacyGroupChatPool, PersistentChatEndpoint, PersistentChatPool, SipPrincipal, TopologyState } from '../topology/state';
import { parseContactDistinguishedName } from '../shared/distinguished-name';
import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import type { Snapshot } from './snapshot';

/**
 * Drift: where the ledger and an observed deployment disagree. Entities are named as the audit
 * trail names them (`<kind>:<id>`, kinds as in its `entity_kind`): `sipDomain:contoso.com`,
 * `persistentChatPool:pcpool.contoso.com`, `legacyPool:gc.contoso.com`,
 * `endpoint:sip:x@contoso.com`, `principal:sip:ocschat@contoso.com`.
 */
export type DriftKind = 'missing_in_ledger' | 'missing_in_deployment' | 'differs';

export type EntityValue = string | boolean | null | readonly string[];
/** An entity as one side sees it: only the fields the product compares. */
export type EntityView = Readonly<Record<string, EntityValue>>;

export const DRIFT_ENTITY_KINDS = ['sipDomain', 'legacyPool', 'persistentChatPool', 'principal', 'endpoint'] as const;
export type DriftEntityKind = (typeof DRIFT_ENTITY_KINDS)[number];

export interface DriftItem {
  readonly entity: string;
  readonly kind: DriftKind;
  readonly ledger: EntityView | null;
  readonly observed: EntityView | null;
  /** For `differs`: the fields whose values differ, in the view's order. */
  readonly fields?: readonly string[];
}

export const entityKey = (kind: DriftEntityKind, id: string): string => `${kind}:${id}`;

/** The kind and id of an entity key (`endpoint:sip:x@contoso.com` → endpoint, sip:x@contoso.com); undefined when it names no drift entity. */
export function parseEntityKey(key: string): { kind: DriftEntityKind; id: string } | undefined {
  const colon = key.indexOf(':');
  if (colon <= 0) return undefined;
  const kind = key.slice(0, colon);
  const id = key.slice(colon + 1);
  if (id === '' || !(DRIFT_ENTITY_KINDS as readonly string[]).includes(kind)) return undefined;
  return { kind: kind as DriftEntityKind, id };
}

// ---------------------------------------------------------------------------------------------
// Views of the ledger

const sorted = (values: readonly string[]): readonly string[] => [...values].sort();

const sipDomainView = (state: TopologyState, domain: string): EntityView => ({ name: domain, isDefault: state.defaultSipDomain === domain });
const legacyPoolView = (pool: LegacyGroupChatPool): EntityView => ({ fqdn: pool.fqdn, version: pool.version, wellKnownSipAddress: pool.wellKnownSipAddress, status: pool.status });
const persistentChatPoolView = (pool: PersistentChatPool): EntityView => ({
  fqdn: pool.fqdn,
  site: pool.site,
  servers: pool.servers,
  activeServers: pool.activeServers,
  poolState: pool.poolState,
  status: pool.status,
});
const principalView = (principal: SipPrincipal): EntityView => ({
  sipAddress: principal.sipAddress,
  kind: principal.kind,
  displayName: principal.displayName,
  legacyPoolFqdn: principal.legacyPoolFqdn,
});
const endpointView = (endpoint: PersistentChatEndpoint): EntityView => ({
  sipAddress: endpoint.sipAddress,
  poolFqdn: endpoint.poolFqdn,
  displayName: endpoint.displayName,
  distinguishedName: endpoint.distinguishedName,
});

/** The ledger's view of one entity, undefined when the ledger does not have it. */
export function ledgerViewOf(state: TopologyState, key: string): EntityView | undefined {
  const parsed = parseEntityKey(key);
  if (!parsed) return undefined;
  switch (parsed.kind) {
    case 'sipDomain':
      return state.sipDomains.has(parsed.id as Fqdn) ? sipDomainView(state, parsed.id) : undefined;
    case 'legacyPool': {
      const pool = state.legacyPools.get(parsed.id as Fqdn);
      return pool && legacyPoolView(pool);
    }
    case 'persistentChatPool': {
      const pool = state.persistentChatPools.get(parsed.id as Fqdn);
      return pool && persistentChatPoolView(pool);
    }
    case 'principal': {
      const principal = state.principals.get(parsed.id as SipUri);
      return principal && principalView(principal);
    }
    case 'endpoint': {
      const endpoint = state.endpoints.get(parsed.id as SipUri);
      return endpoint && endpointView(endpoint);
    }
  }
}

/** The fields of an observed view whose values the ledger's view does not share. */
export function fieldsThatDiffer(observed: EntityView, ledger: EntityView): string[] {
  return Object.keys(observed).filter((field) => !sameValue(observed[field], ledger[field]));
}

// ---------------------------------------------------------------------------------------------
// Views of the snapshot

/** Adds the fields that are present; an optional field the snapshot left out is not compared. */
function present(view: Record<string, EntityValue | undefined>): EntityView {
  const result: Record<string, EntityValue> = {};
  for (const key of Object.keys(view)) {
    const value = view[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Comparing

/** Lists (a pool's servers) compare as sets: the order computers joined a pool is not observed. */
function sameValue(a: EntityValue | undefined, b: EntityValue | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    const x = sorted(a);
    const y = sorted(b);
    return x.every((value, i) => value === y[i]);
  }
  return a === b;
}

/**
 * Every difference between the ledger (`state`) and what the snapshot observed, sorted by entity.
 * Only what the snapshot observed is compared: an absent section, an optional field left out, or a
 * principal nobody looked up says nothing.
 */
export function computeDrift(state: TopologyState, snapshot: Snapshot): DriftItem[] {
  // Kind by kind, with views made only for the entry being compared: a snapshot of tens of thousands of
  // endpoints is compared without a second copy of it, or of the ledger, held in memory.
  const drift: DriftItem[] = [];
  const compare = (key: string, seen: EntityView, known: EntityView | undefined): void => {
    if (known === undefined) {
      drift.push({ entity: key, kind: 'missing_in_ledger', ledger: null, observed: seen });
      return;
    }
    const fields = fieldsThatDiffer(seen, known);
    if (fields.length > 0) drift.push({ entity: key, kind: 'differs', ledger: known, observed: seen, fields });
  };
  const missing = (key: string, known: EntityView): void => {
    drift.push({ entity: key, kind: 'missing_in_deployment', ledger: known, observed: null });
  };

  // One section of the snapshot against the ledger: each observed entry compared with the ledger's view
  // of it, then each ledger entity the section did not list is missing in the deployment (within `scope`).
  const section = <O>(
    kind: DriftEntityKind,
    observed: readonly O[] | undefined,
    idOf: (entry: O) => string,
    viewOf: (entry: O) => EntityView,
    ledger: { readonly ids: Iterable<string>; view(id: string): EntityView | undefined },
    options: { readonly skip?: (entry: O) => boolean; readonly scope?: ReadonlySet<string> | null } = {},
  ): void => {
    if (!observed) return;
    const seen = new Set<string>();
    for (const entry of observed) {
      if (options.skip?.(entry)) continue;
      const id = idOf(entry);
      seen.add(id);
      compare(entityKey(kind, id), viewOf(entry), ledger.view(id));
    }
    for (const id of ledger.ids) {
      if (seen.has(id) || (options.scope && !options.scope.has(id))) continue;
      missing(entityKey(kind, id), ledger.view(id)!);
    }
  };

  section('sipDomain', snapshot.sipDomains, (d) => d.name, (d) => ({ name: d.name, isDefault: d.isDefault }), {
    ids: state.sipDomains,
    view: (id) => (state.sipDomains.has(id as Fqdn) ? sipDomainView(state, id) : undefined),
  });
  section('legacyPool', snapshot.legacyPools, (p) => p.fqdn, (p) => present({ fqdn: p.fqdn, version: p.version, wellKnownSipAddress: p.wellKnownSipAddress, status: p.status }), {
    ids: state.legacyPools.keys(),
    view: (id) => {
      const pool = state.legacyPools.get(id as Fqdn);
      return pool && legacyPoolView(pool);
    },
  });
  section(
    'persistentChatPool',
    snapshot.persistentChatPools,
    (p) => p.fqdn,
    (p) => present({ fqdn: p.fqdn, site: p.site, servers: p.servers, activeServers: p.activeServers, poolState: p.poolState, status: p.status }),
    {
      ids: state.persistentChatPools.keys(),
      view: (id) => {
        const pool = state.persistentChatPools.get(id as Fqdn);
        return pool && persistentChatPoolView(pool);
      },
    },
  );
  section(
    'principal',
    snapshot.principals,
    (p) => p.sipAddress,
    (p) => present({ sipAddress: p.sipAddress, kind: p.kind, displayName: p.displayName, legacyPoolFqdn: p.legacyPoolFqdn }),
    {
      ids: state.principals.keys(),
      view: (id) => {
        const principal = state.principals.get(id as SipUri);
        return principal && principalView(principal);
      },
    },
    // Looked up one by one: only those addresses (and the ones listed) say anything of the ledger's principals.
    { scope: snapshot.principalLookups ? new Set<string>(snapshot.principalLookups) : null },
  );
  section(
    'endpoint',
    snapshot.endpoints,
    (e) => e.sipAddress,
    (e) => present({ sipAddress: e.sipAddress, poolFqdn: e.poolFqdn, displayName: e.displayName, distinguishedName: e.distinguishedName }),
    {
      ids: state.endpoints.keys(),
      view: (id) => {
        const endpoint = state.endpoints.get(id as SipUri);
        return endpoint && endpointView(endpoint);
      },
    },
    // The contact every pool of the ledger got at installation (R7) is part of its pool, not an endpoint.
    { skip: (e) => state.defaultPoolContacts.has(e.sipAddress) },
  );
  return drift.sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0));
}

/**
 * What a snapshot observed completely: its sections, and for principals looked up one by one the
 * addresses covered. Small, so an observation records it, and drift it does not cover stays open.
 */
export interface Coverage {
  readonly kinds: readonly DriftEntityKind[];
  /** Null: every principal was listed. */
  readonly principalScope: readonly string[] | null;
}

export function coverageOf(snapshot: Snapshot): Coverage {
  const kinds: DriftEntityKind[] = [];
  if (snapshot.sipDomains) kinds.push('sipDomain');
  if (snapshot.legacyPools) kinds.push('legacyPool');
  if (snapshot.persistentChatPools) kinds.push('persistentChatPool');
  if (snapshot.principals) kinds.push('principal');
  if (snapshot.endpoints) kinds.push('endpoint');
  const principalScope =
    snapshot.principals && snapshot.principalLookups ? [...new Set<string>([...snapshot.principalLookups, ...snapshot.principals.map((p) => p.sipAddress)])].sort() : null;
  return { kinds, principalScope };
}

/** Whether a snapshot of this coverage says anything about entity `key`. */
export function covers(coverage: Coverage, key: string): boolean {
  const parsed = parseEntityKey(key);
  if (!parsed || !coverage.kinds.includes(parsed.kind)) return false;
  if (parsed.kind === 'principal' && coverage.principalScope) return coverage.principalScope.includes(parsed.id);
  return true;
}

/**
 * The snapshot a collector would send if the deployment were exactly what the ledger says: every
 * section observed, every optional field given. Its drift against the same ledger is empty.
 */
export function expectedSnapshot(state: TopologyState, collectedAt: string): Snapshot {
  return {
    collectedAt,
    source: 'ledger',
    sipDomains: [...state.sipDomains].sort().map((name) => ({ name, isDefault: state.defaultSipDomain === name })),
    legacyPools: [...state.legacyPools.values()]
      .sort(byKey((p) => p.fqdn))
      .map((pool) => ({ fqdn: pool.fqdn, version: pool.version, wellKnownSipAddress: pool.wellKnownSipAddress, status: pool.status })),
    persistentChatPools: [...state.persistentChatPools.values()].sort(byKey((p) => p.fqdn)).map((pool) => ({
      fqdn: pool.fqdn,
      site: pool.site,
      servers: [...pool.servers],
      activeServers: [...pool.activeServers],
      poolState: pool.poolState,
      status: pool.status,
    })),
    endpoints: [...state.endpoints.values()]
      .sort(byKey((e) => e.sipAddress))
      .map((endpoint) => ({
        sipAddress: endpoint.sipAddress,
        poolFqdn: endpoint.poolFqdn,
        displayName: endpoint.displayName,
        // A DN the ledger derived from the address (endpoints created before contacts had GUIDs) is no Identity a collector sees.
        ...(parseContactDistinguishedName(endpoint.distinguishedName) ? { distinguishedName: endpoint.distinguishedName } : {}),
      })),
    principals: [...state.principals.values()]
      .sort(byKey((p) => p.sipAddress))
      .map((principal) => ({
        sipAddress: principal.sipAddress,
        kind: principal.kind,
        displayName: principal.displayName,
        ...(principal.legacyPoolFqdn !== null ? { legacyPoolFqdn: principal.legacyPoolFqdn } : {}),
      })),
  };
}

function byKey<T>(key: (value: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
