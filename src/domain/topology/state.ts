import type { PoolKind, SipOwnerDetails } from '../errors';
import type { Fqdn } from '../shared/fqdn';
import { SharedMap } from '../shared/shared-map';
import { type SipUri, sipDomainOf } from '../shared/sip-uri';

/**
 * The topology of one deployment: the consistency boundary of its decider. Collections are keyed by
 * the lower-cased SIP address or FQDN, so lookups need no further normalisation. The collections that
 * grow with the organisation (principals, endpoints and their index) are `SharedMap`s, so the next
 * state shares them but for what changed; those bounded by the number of pools are copied.
 */
export interface TopologyState {
  readonly sipDomains: ReadonlySet<Fqdn>;
  /** Null only while no SIP domain is registered. */
  readonly defaultSipDomain: Fqdn | null;
  /** Users, contacts and the well-known users of legacy Group Chat pools. */
  readonly principals: SharedMap<SipUri, SipPrincipal>;
  readonly endpoints: SharedMap<SipUri, PersistentChatEndpoint>;
  readonly persistentChatPools: ReadonlyMap<Fqdn, PersistentChatPool>;
  /** Decommissioned pools stay: their FQDN and their history remain taken. */
  readonly legacyPools: ReadonlyMap<Fqdn, LegacyGroupChatPool>;
  /** Index: default pool contact address → its Persistent Chat pool (R7). */
  readonly defaultPoolContacts: ReadonlyMap<SipUri, Fqdn>;
  /**
   * Index: an endpoint's distinguished name, as `distinguishedNameKey` compares it → the endpoints
   * holding it, oldest first (one, but for events stored before names were checked).
   */
  readonly endpointDistinguishedNames: SharedMap<string, readonly SipUri[]>;
  /** Index: how many endpoints each Persistent Chat pool has (R8). */
  readonly endpointCountByPool: ReadonlyMap<Fqdn, number>;
  /** Principals of kind 'user', for the capacity guidance of R13. */
  readonly userCount: number;
}

export type SipPrincipalKind = 'user' | 'contact' | 'wellKnownUser';

export interface SipPrincipal {
  readonly sipAddress: SipUri;
  readonly kind: SipPrincipalKind;
  readonly displayName: string | null;
  /** The legacy pool a well-known user routes clients to; null for users and contacts. */
  readonly legacyPoolFqdn: Fqdn | null;
}

export interface PersistentChatEndpoint {
  readonly sipAddress: SipUri;
  readonly poolFqdn: Fqdn;
  readonly displayName: string | null;
  readonly distinguishedName: string;
}

/** R14, for Persistent Chat pools: Installed → Started ⇄ Stopped; removal leaves the topology. */
export type PersistentChatPoolStatus = 'Installed' | 'Started' | 'Stopped';
/** R11: which databases the pool runs on. */
export type PersistentChatPoolState = 'Normal' | 'FailedOver';

export interface PersistentChatPool {
  readonly fqdn: Fqdn;
  readonly site: string | null;
  /** In the order they joined the pool. */
  readonly servers: readonly Fqdn[];
  /** A subset of `servers`, in the same order (R12). */
  readonly activeServers: readonly Fqdn[];
  readonly complianceEnabled: boolean;
  /** Installed on a single computer: the pool can never gain servers (R10). */
  readonly singleServer: boolean;
  readonly databaseInstance: string | null;
  readonly poolState: PersistentChatPoolState;
  readonly status: PersistentChatPoolStatus;
  readonly defaultContactSipAddress: SipUri;
}

export type LegacyGroupChatVersion = 'Lync2010' | 'OCS2007R2';
/** R14, for legacy pools: a defined legacy pool is one that already runs: Started ⇄ Stopped → Decommissioned. */
export type LegacyGroupChatPoolStatus = 'Started' | 'Stopped' | 'Decommissioned';

/** The computer that runs each Group Chat service; null for an optional service the pool does not run. */
export interface LegacyGroupChatServices {
  readonly lookup: Fqdn;
  readonly channel: Fqdn;
  readonly web: Fqdn | null;
  readonly compliance: Fqdn | null;
}

export interface LegacyGroupChatPool {
  readonly fqdn: Fqdn;
  /** Fixed at definition (R15). */
  readonly version: LegacyGroupChatVersion;
  readonly wellKnownSipAddress: SipUri;
  readonly services: LegacyGroupChatServices;
  readonly databaseInstance: string | null;
  readonly status: LegacyGroupChatPoolStatus;
  /** The Persistent Chat pool a migration imported this pool's data into; null until one has. */
  readonly dataMigratedTo: Fqdn | null;
}

export function initialState(): TopologyState {
  return {
    sipDomains: new Set(),
    defaultSipDomain: null,
    principals: SharedMap.empty(),
    endpoints: SharedMap.empty(),
    persistentChatPools: new Map(),
    legacyPools: new Map(),
    defaultPoolContacts: new Map(),
    endpointDistinguishedNames: SharedMap.empty(),
    endpointCountByPool: new Map(),
    userCount: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Queries shared by the decider, command handlers and projections

/** Whatever owns a SIP address (R3 allows one at a time). */
export type SipOwner =
  | { readonly kind: 'principal'; readonly sipAddress: SipUri; readonly principal: SipPrincipal }
  | { readonly kind: 'endpoint'; readonly sipAddress: SipUri; readonly endpoint: PersistentChatEndpoint }
  | { readonly kind: 'defaultPoolContact'; readonly sipAddress: SipUri; readonly poolFqdn: Fqdn };

/** The owner of `uri`, or undefined when it is free. */
export function ownerOf(state: TopologyState, uri: SipUri): SipOwner | undefined {
  const principal = state.principals.get(uri);
  if (principal) return { kind: 'principal', sipAddress: uri, principal };
  const endpoint = state.endpoints.get(uri);
  if (endpoint) return { kind: 'endpoint', sipAddress: uri, endpoint };
  const poolFqdn = state.defaultPoolContacts.get(uri);
  if (poolFqdn) return { kind: 'defaultPoolContact', sipAddress: uri, poolFqdn };
  return undefined;
}

/** An owner in words, for messages: "the well-known user of legacy pool gc.contoso.com". */
export function describeOwner(owner: SipOwner): string {
  switch (owner.kind) {
    case 'principal': {
      const { principal } = owner;
      const name = principal.displayName ? ` '${principal.displayName}'` : '';
      if (principal.kind === 'wellKnownUser') return `the well-known user of legacy pool ${principal.legacyPoolFqdn ?? '(none)'}`;
      return `the ${principal.kind}${name}`;
    }
    case 'endpoint':
      return `the Persistent Chat endpoint${owner.endpoint.displayName ? ` '${owner.endpoint.displayName}'` : ''} of pool ${owner.endpoint.poolFqdn}`;
    case 'defaultPoolContact':
      return `the default pool contact of ${owner.poolFqdn}`;
  }
}

/** An owner as error details: `{ kind, sipAddress, displayName, poolFqdn }`. */
export function ownerDetails(owner: SipOwner): SipOwnerDetails {
  switch (owner.kind) {
    case 'principal':
      return {
        kind: owner.principal.kind,
        sipAddress: owner.sipAddress,
        displayName: owner.principal.displayName,
        poolFqdn: owner.principal.legacyPoolFqdn,
      };
    case 'endpoint':
      return { kind: 'endpoint', sipAddress: owner.sipAddress, displayName: owner.endpoint.displayName, poolFqdn: owner.endpoint.poolFqdn };
    case 'defaultPoolContact':
      return { kind: 'defaultPoolContact', sipAddress: owner.sipAddress, displayName: null, poolFqdn: owner.poolFqdn };
  }
}

/**
 * Every SIP address the deployment holds, whoever owns it, and the well-known address of every legacy
 * pool, even once its well-known user is deleted (migration step 4): the pool is still reached, or was,
 * through it (R15), and its definition names it (R1), so its SIP domain stays registered while the pool is
 * in the topology.
 */
export function* allSipAddresses(state: TopologyState): Iterable<SipUri> {
  yield* state.principals.keys();
  yield* state.endpoints.keys();
  yield* state.defaultPoolContacts.keys();
  for (const pool of state.legacyPools.values()) if (!state.principals.has(pool.wellKnownSipAddress) && !state.endpoints.has(pool.wellKnownSipAddress)) yield pool.wellKnownSipAddress;
}

export function sipAddressesInDomain(state: TopologyState, domain: Fqdn): SipUri[] {
  return [...new Set(allSipAddresses(state))].filter((uri) => sipDomainOf(uri) === domain);
}

export type Pool =
  | { readonly kind: 'persistentChat'; readonly pool: PersistentChatPool }
  | { readonly kind: 'legacyGroupChat'; readonly pool: LegacyGroupChatPool };

/** The pool of either kind with this FQDN. */
export function poolOf(state: TopologyState, fqdn: Fqdn): Pool | undefined {
  const persistentChat = state.persistentChatPools.get(fqdn);
  if (persistentChat) return { kind: 'persistentChat', pool: persistentChat };
  const legacy = state.legacyPools.get(fqdn);
  if (legacy) return { kind: 'legacyGroupChat', pool: legacy };
  return undefined;
}

export interface FqdnHolder {
  readonly poolFqdn: Fqdn;
  readonly poolKind: PoolKind;
  readonly role: 'pool' | 'server';
}

/** Which pool already uses `fqdn`, as its own name or as one of its computers. */
export function fqdnHolder(state: TopologyState, fqdn: Fqdn): FqdnHolder | undefined {
  const pool = poolOf(state, fqdn);
  if (pool) return { poolFqdn: fqdn, poolKind: pool.kind, role: 'pool' };
  for (const candidate of state.persistentChatPools.values()) {
    if (candidate.servers.includes(fqdn)) return { poolFqdn: candidate.fqdn, poolKind: 'persistentChat', role: 'server' };
  }
  for (const candidate of state.legacyPools.values()) {
    const { lookup, channel, web, compliance } = candidate.services;
    if ([lookup, channel, web, compliance].includes(fqdn)) return { poolFqdn: candidate.fqdn, poolKind: 'legacyGroupChat', role: 'server' };
  }
  return undefined;
}

export function endpointsOfPool(state: TopologyState, poolFqdn: Fqdn): PersistentChatEndpoint[] {
  return [...state.endpoints.values()].filter((endpoint) => endpoint.poolFqdn === poolFqdn);
}

/** How many endpoints a pool has, and its first `max` (oldest first), without listing the rest. */
export function firstEndpointsOfPool(state: TopologyState, poolFqdn: Fqdn, max: number): { count: number; first: PersistentChatEndpoint[] } {
  const count = state.endpointCountByPool.get(poolFqdn) ?? 0;
  const first: PersistentChatEndpoint[] = [];
  if (count === 0) return { count, first };
  for (const endpoint of state.endpoints.values()) {
    if (endpoint.poolFqdn !== poolFqdn) continue;
    first.push(endpoint);
    if (first.length >= Math.min(max, count)) break;
  }
  return { count, first };
}

/** The endpoint holding a distinguished name (compared as `distinguishedNameKey` does), if any. */
export function endpointByDistinguishedNameKey(state: TopologyState, key: string): PersistentChatEndpoint | undefined {
  const holders = state.endpointDistinguishedNames.get(key);
  return holders === undefined || holders.length === 0 ? undefined : state.endpoints.get(holders[0]!);
}

/** The well-known user that still routes legacy clients to `legacyPoolFqdn`, if any. */
export function wellKnownUserOf(state: TopologyState, legacyPoolFqdn: Fqdn): SipPrincipal | undefined {
  const pool = state.legacyPools.get(legacyPoolFqdn);
  if (!pool) return undefined;
  const principal = state.principals.get(pool.wellKnownSipAddress);
  return principal?.kind === 'wellKnownUser' && principal.legacyPoolFqdn === legacyPoolFqdn ? principal : undefined;
}

/** Active servers across every Persistent Chat pool (R13's capacity is counted per active server). */
export function activeServerCount(state: TopologyState): number {
  let count = 0;
  for (const pool of state.persistentChatPools.values()) count += pool.activeServers.length;
  return count;
}
