import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import type {
  LegacyGroupChatPoolStatus,
  LegacyGroupChatVersion,
  PersistentChatPoolState,
  PersistentChatPoolStatus,
  SipPrincipalKind,
} from './state';
import type { ActiveServersChange } from './commands';

/**
 * Facts about the topology of one deployment. Each event's `data` is plain JSON (absent values are
 * `null`, never missing) and carries enough to rebuild state and to compensate the change later:
 * a removal carries everything its creation did.
 *
 * The `type` aliases below (not interfaces) keep each `data` assignable to a JSON object type.
 */
export type TopologyEvent =
  | SipDomainRegistered
  | DefaultSipDomainChanged
  | SipDomainRemoved
  | SipPrincipalRegistered
  | SipPrincipalDeleted
  | LegacyGroupChatPoolDefined
  | LegacyGroupChatPoolDecommissioned
  | PersistentChatPoolInstalled
  | PersistentChatPoolRemoved
  | PersistentChatServerAdded
  | PersistentChatServerRemoved
  | PersistentChatActiveServersChanged
  | PersistentChatStateChanged
  | PoolStarted
  | PoolStopped
  | PersistentChatEndpointCreated
  | PersistentChatEndpointRemoved
  | LegacyPoolDataImported
  | LegacyPoolDataImportReverted
  | PoolStartReverted;

export type TopologyEventType = TopologyEvent['type'];

export type SipDomainRegistered = {
  type: 'SipDomainRegistered';
  data: { domain: Fqdn; isDefault: boolean; previousDefault: Fqdn | null };
};

export type DefaultSipDomainChanged = {
  type: 'DefaultSipDomainChanged';
  data: { domain: Fqdn; previousDefault: Fqdn | null };
};

export type SipDomainRemoved = {
  type: 'SipDomainRemoved';
  data: { domain: Fqdn; wasDefault: boolean; reason: string };
};

export type SipPrincipalData = {
  sipAddress: SipUri;
  kind: SipPrincipalKind;
  displayName: string | null;
  /** Set for a well-known user: the legacy pool it routes clients to. */
  legacyPoolFqdn: Fqdn | null;
};

/** Also how a well-known user comes to exist (kind 'wellKnownUser'), at definition or when a rollback re-creates it. */
export type SipPrincipalRegistered = {
  type: 'SipPrincipalRegistered';
  data: SipPrincipalData;
};

export type SipPrincipalDeleted = {
  type: 'SipPrincipalDeleted';
  data: SipPrincipalData & { reason: string };
};

export type LegacyGroupChatServicesData = {
  lookup: Fqdn;
  channel: Fqdn;
  web: Fqdn | null;
  compliance: Fqdn | null;
};

export type LegacyGroupChatPoolDefined = {
  type: 'LegacyGroupChatPoolDefined';
  data: {
    fqdn: Fqdn;
    version: LegacyGroupChatVersion;
    wellKnownSipAddress: SipUri;
    services: LegacyGroupChatServicesData;
    databaseInstance: string | null;
  };
};

export type LegacyGroupChatPoolDecommissioned = {
  type: 'LegacyGroupChatPoolDecommissioned';
  data: {
    fqdn: Fqdn;
    version: LegacyGroupChatVersion;
    wellKnownSipAddress: SipUri;
    dataMigratedTo: Fqdn | null;
    reason: string;
  };
};

export type PersistentChatPoolData = {
  fqdn: Fqdn;
  servers: Fqdn[];
  activeServers: Fqdn[];
  site: string | null;
  complianceEnabled: boolean;
  singleServer: boolean;
  databaseInstance: string | null;
  /** The default pool contact created with the pool (R7). */
  defaultContactSipAddress: SipUri;
};

/** A new pool starts Installed, in the Normal state. */
export type PersistentChatPoolInstalled = {
  type: 'PersistentChatPoolInstalled';
  data: PersistentChatPoolData;
};

/** Carries the whole pool as it was, its default contact included, so a compensation can reinstall it. */
export type PersistentChatPoolRemoved = {
  type: 'PersistentChatPoolRemoved';
  data: PersistentChatPoolData & {
    poolState: PersistentChatPoolState;
    status: PersistentChatPoolStatus;
    reason: string;
  };
};

/** A server joins inactive. */
export type PersistentChatServerAdded = {
  type: 'PersistentChatServerAdded';
  data: { poolFqdn: Fqdn; serverFqdn: Fqdn };
};

export type PersistentChatServerRemoved = {
  type: 'PersistentChatServerRemoved';
  data: { poolFqdn: Fqdn; serverFqdn: Fqdn; reason: string };
};

export type PersistentChatActiveServersChanged = {
  type: 'PersistentChatActiveServersChanged';
  data: {
    poolFqdn: Fqdn;
    change: ActiveServersChange['kind'];
    activeServers: Fqdn[];
    previousActiveServers: Fqdn[];
  };
};

export type PersistentChatStateChanged = {
  type: 'PersistentChatStateChanged';
  data: { poolFqdn: Fqdn; poolState: PersistentChatPoolState; previousPoolState: PersistentChatPoolState };
};

export type PoolStatus = PersistentChatPoolStatus | LegacyGroupChatPoolStatus;

export type PoolStarted = {
  type: 'PoolStarted';
  data: { fqdn: Fqdn; poolKind: 'persistentChat' | 'legacyGroupChat'; previousStatus: PoolStatus };
};

export type PoolStopped = {
  type: 'PoolStopped';
  data: { fqdn: Fqdn; poolKind: 'persistentChat' | 'legacyGroupChat'; previousStatus: PoolStatus };
};

export type EndpointData = {
  sipAddress: SipUri;
  poolFqdn: Fqdn;
  displayName: string | null;
  distinguishedName: string;
};

export type PersistentChatEndpointCreated = {
  type: 'PersistentChatEndpointCreated';
  data: EndpointData;
};

export type PersistentChatEndpointRemoved = {
  type: 'PersistentChatEndpointRemoved';
  data: EndpointData & { reason: string };
};

/** Migration step 3: the legacy pool's data was imported into the Persistent Chat pool. */
export type LegacyPoolDataImported = {
  type: 'LegacyPoolDataImported';
  data: { legacyPoolFqdn: Fqdn; targetPoolFqdn: Fqdn; fileName: string };
};

/** Compensation of step 3: the legacy pool's data counts as held by the legacy pool again. */
export type LegacyPoolDataImportReverted = {
  type: 'LegacyPoolDataImportReverted';
  data: { legacyPoolFqdn: Fqdn; targetPoolFqdn: Fqdn; reason: string };
};

/** Compensation of step 6: a Persistent Chat pool back to the status it had before a migration started it. */
export type PoolStartReverted = {
  type: 'PoolStartReverted';
  data: { fqdn: Fqdn; poolKind: 'persistentChat'; status: 'Installed' | 'Stopped'; previousStatus: PoolStatus };
};
