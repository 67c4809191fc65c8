import type { Fqdn } from '../../src/domain/shared/fqdn';
import { parseFqdn } from '../../src/domain/shared/fqdn';
import { type SipUri, parseSipUri } from '../../src/domain/shared/sip-uri';
import { SharedMap } from '../../src/domain/shared/shared-map';
import {
  type LegacyGroupChatVersion,
  type PersistentChatPoolStatus,
  type TopologyEvent,
  type TopologyState,
  defaultPoolContactAddress,
  endpointDistinguishedName,
} from '../../src/domain/topology';

export const sip = (address: string): SipUri => parseSipUri(address, 'sipAddress');
export const fqdn = (name: string): Fqdn => parseFqdn(name, 'fqdn');
export const fqdns = (...names: string[]): Fqdn[] => names.map(fqdn);

export function sipDomainRegistered(domain: string, isDefault = true, previousDefault: string | null = null): TopologyEvent {
  return {
    type: 'SipDomainRegistered',
    data: { domain: fqdn(domain), isDefault, previousDefault: previousDefault === null ? null : fqdn(previousDefault) },
  };
}

export function principalRegistered(address: string, kind: 'user' | 'contact' = 'user', displayName: string | null = null): TopologyEvent {
  return { type: 'SipPrincipalRegistered', data: { sipAddress: sip(address), kind, displayName, legacyPoolFqdn: null } };
}

/** A legacy pool as DefineLegacyGroupChatPool records it: the pool, then its well-known user. */
export function legacyPoolDefined(
  poolFqdn: string,
  wellKnownSipAddress: string,
  version: LegacyGroupChatVersion = 'Lync2010',
): TopologyEvent[] {
  return [
    {
      type: 'LegacyGroupChatPoolDefined',
      data: {
        fqdn: fqdn(poolFqdn),
        version,
        wellKnownSipAddress: sip(wellKnownSipAddress),
        services: { lookup: fqdn(poolFqdn), channel: fqdn(poolFqdn), web: null, compliance: null },
        databaseInstance: null,
      },
    },
    wellKnownUserRegistered(wellKnownSipAddress, poolFqdn),
  ];
}

export function wellKnownUserRegistered(address: string, legacyPoolFqdn: string): TopologyEvent {
  return {
    type: 'SipPrincipalRegistered',
    data: { sipAddress: sip(address), kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: fqdn(legacyPoolFqdn) },
  };
}

export function wellKnownUserDeleted(address: string, legacyPoolFqdn: string, reason = 'migration step 4'): TopologyEvent {
  return {
    type: 'SipPrincipalDeleted',
    data: { sipAddress: sip(address), kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: fqdn(legacyPoolFqdn), reason },
  };
}

export interface PoolOptions {
  readonly defaultSipDomain?: string;
  readonly singleServer?: boolean;
}

export function persistentChatPoolInstalled(
  poolFqdn: string,
  servers: string[] = ['pc1.contoso.com'],
  options: PoolOptions = {},
): TopologyEvent {
  const all = fqdns(...servers);
  return {
    type: 'PersistentChatPoolInstalled',
    data: {
      fqdn: fqdn(poolFqdn),
      servers: all,
      activeServers: all.slice(0, 4),
      site: null,
      complianceEnabled: false,
      singleServer: options.singleServer ?? false,
      databaseInstance: null,
      defaultContactSipAddress: defaultContactOf(poolFqdn, options.defaultSipDomain),
    },
  };
}

/** The removal of a pool installed by `persistentChatPoolInstalled` with the same arguments, never started. */
export function persistentChatPoolRemoved(
  poolFqdn: string,
  servers: string[] = ['pc1.contoso.com'],
  reason = 'retired',
): TopologyEvent {
  const installed = persistentChatPoolInstalled(poolFqdn, servers);
  if (installed.type !== 'PersistentChatPoolInstalled') throw new Error('unexpected fixture');
  return { type: 'PersistentChatPoolRemoved', data: { ...installed.data, poolState: 'Normal', status: 'Installed', reason } };
}

export function defaultContactOf(poolFqdn: string, defaultSipDomain = 'contoso.com'): SipUri {
  return defaultPoolContactAddress(fqdn(poolFqdn), fqdn(defaultSipDomain));
}

export function poolStarted(
  poolFqdn: string,
  poolKind: 'persistentChat' | 'legacyGroupChat' = 'persistentChat',
  previousStatus: PersistentChatPoolStatus = 'Installed',
): TopologyEvent {
  return { type: 'PoolStarted', data: { fqdn: fqdn(poolFqdn), poolKind, previousStatus } };
}

export function poolStopped(poolFqdn: string, poolKind: 'persistentChat' | 'legacyGroupChat' = 'persistentChat'): TopologyEvent {
  return { type: 'PoolStopped', data: { fqdn: fqdn(poolFqdn), poolKind, previousStatus: 'Started' } };
}

export function serverAdded(poolFqdn: string, serverFqdn: string): TopologyEvent {
  return { type: 'PersistentChatServerAdded', data: { poolFqdn: fqdn(poolFqdn), serverFqdn: fqdn(serverFqdn) } };
}

export function endpointCreated(address: string, poolFqdn: string, displayName: string | null = null): TopologyEvent {
  return {
    type: 'PersistentChatEndpointCreated',
    data: { sipAddress: sip(address), poolFqdn: fqdn(poolFqdn), displayName, distinguishedName: endpointDistinguishedName(sip(address)) },
  };
}

/** contoso.com registered (the default), gc.contoso.com defined with its well-known user, pcpool.contoso.com installed. */
export const seed: TopologyEvent[] = [
  sipDomainRegistered('contoso.com'),
  ...legacyPoolDefined('gc.contoso.com', 'sip:ocschat@contoso.com'),
  persistentChatPoolInstalled('pcpool.contoso.com', ['pc1.contoso.com', 'pc2.contoso.com']),
];

/** A state as plain data, to compare two states or to check one did not change. */
export function snapshot(state: TopologyState, order: 'insertion' | 'any' = 'insertion'): unknown {
  const entries = (map: ReadonlyMap<unknown, unknown>): [unknown, unknown][] =>
    order === 'insertion' ? [...map.entries()] : [...map.entries()].sort(([a], [b]) => String(a).localeCompare(String(b)));
  return JSON.parse(
    JSON.stringify(state, (_key, value: unknown) =>
      value instanceof Map || value instanceof SharedMap ? entries(value as ReadonlyMap<unknown, unknown>) : value instanceof Set ? [...value] : value,
    ),
  );
}
