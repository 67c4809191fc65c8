import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import type { LegacyGroupChatPoolStatus, LegacyGroupChatVersion, PersistentChatPoolState, PersistentChatPoolStatus } from '../topology/state';

/** The `format` every snapshot carries, and the version of its schema (bumped when its shape changes). */
export const SNAPSHOT_FORMAT = 'topology-ledger.snapshot';
export const SNAPSHOT_SCHEMA_VERSION = 1;

/** Where a snapshot came from: the collector script, a topology document, or the ledger itself (`expected`). */
export type SnapshotSource = 'collector' | 'topologyXml' | 'ledger';

/**
 * What a deployment was seen to be, already parsed (addresses lower-cased, R2). A section that is
 * absent was not observed, and nothing is concluded about it; a section that is present lists
 * everything of its kind. Optional fields of an entry are compared only when present.
 */
export interface Snapshot {
  readonly collectedAt: string | null;
  readonly source: SnapshotSource;
  readonly sipDomains?: readonly ObservedSipDomain[];
  readonly persistentChatPools?: readonly ObservedPersistentChatPool[];
  readonly legacyPools?: readonly ObservedLegacyPool[];
  readonly endpoints?: readonly ObservedEndpoint[];
  readonly principals?: readonly ObservedPrincipal[];
  /**
   * The SIP addresses the collector looked up (the well-known users it was given). When present,
   * `principals` covers only these (and those it lists): other principals of the ledger are not compared.
   */
  readonly principalLookups?: readonly SipUri[];
}

export interface ObservedSipDomain {
  readonly name: Fqdn;
  readonly isDefault: boolean;
}

export interface ObservedPersistentChatPool {
  readonly fqdn: Fqdn;
  readonly servers: readonly Fqdn[];
  readonly site?: string | null;
  readonly activeServers?: readonly Fqdn[];
  readonly poolState?: PersistentChatPoolState;
  readonly status?: PersistentChatPoolStatus;
}

export interface ObservedLegacyPool {
  readonly fqdn: Fqdn;
  readonly version: LegacyGroupChatVersion;
  readonly wellKnownSipAddress: SipUri;
  readonly status?: LegacyGroupChatPoolStatus;
}

export interface ObservedEndpoint {
  readonly sipAddress: SipUri;
  readonly poolFqdn: Fqdn;
  /** Absent: not observed (not compared). */
  readonly displayName?: string | null;
  /**
   * Its contact's DN (`CN={guid},CN=Application Contacts,...`: the Identity Get-CsPersistentChatEndpoint
   * gives), written as the ledger writes one. Absent: not observed (snapshots of the first collector).
   */
  readonly distinguishedName?: string;
}

export type ObservedPrincipalKind = 'user' | 'contact' | 'wellKnownUser';

export interface ObservedPrincipal {
  readonly sipAddress: SipUri;
  readonly kind: ObservedPrincipalKind;
  readonly displayName: string | null;
  /** For a well-known user: the legacy pool it routes clients to (absent: not observed). */
  readonly legacyPoolFqdn?: Fqdn;
}

/** How many entries of each kind a snapshot holds (null: the section was not observed). */
export interface SnapshotCounts {
  readonly sipDomains: number | null;
  readonly persistentChatPools: number | null;
  readonly legacyPools: number | null;
  readonly endpoints: number | null;
  readonly principals: number | null;
}

export function countsOf(snapshot: Snapshot): SnapshotCounts {
  return {
    sipDomains: snapshot.sipDomains?.length ?? null,
    persistentChatPools: snapshot.persistentChatPools?.length ?? null,
    legacyPools: snapshot.legacyPools?.length ?? null,
    endpoints: snapshot.endpoints?.length ?? null,
    principals: snapshot.principals?.length ?? null,
  };
}
