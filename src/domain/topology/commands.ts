import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import type { LegacyGroupChatVersion, PersistentChatPoolState } from './state';

/**
 * Commands on the topology of one deployment. Values arrive parsed (SipUri, Fqdn); who sent them,
 * when and under which ticket travels as metadata beside the command, not in it.
 *
 * There is deliberately no command that changes an endpoint (R5): remove it and create it again.
 */
export type TopologyCommand =
  | RegisterSipDomain
  | SetDefaultSipDomain
  | RemoveSipDomain
  | RegisterSipPrincipal
  | DeleteSipPrincipal
  | DefineLegacyGroupChatPool
  | DecommissionLegacyPool
  | InstallPersistentChatPool
  | RemovePersistentChatPool
  | AddPersistentChatServer
  | RemovePersistentChatServer
  | SetPersistentChatActiveServers
  | SetPersistentChatState
  | StartPool
  | StopPool
  | CreateEndpoint
  | RemoveEndpoint
  | MigrationStepCommand;

export type TopologyCommandType = TopologyCommand['type'];

/**
 * Commands only a migration issues, as one of its steps or as the compensation of one: they record
 * what happens to a legacy pool's data and undo what a step did, through the same decider.
 */
export type MigrationStepCommand = ImportLegacyPoolData | RevertLegacyPoolDataImport | DeleteWellKnownUser | RestoreWellKnownUser | RevertPoolStart;
export type MigrationStepCommandType = MigrationStepCommand['type'];
export const MIGRATION_STEP_COMMANDS: readonly MigrationStepCommandType[] = [
  'ImportLegacyPoolData',
  'RevertLegacyPoolDataImport',
  'DeleteWellKnownUser',
  'RestoreWellKnownUser',
  'RevertPoolStart',
];
/** The topology commands an administrator sends directly. */
export type AdminTopologyCommandType = Exclude<TopologyCommandType, MigrationStepCommandType>;

/** Migration step 3 (`Import-CsPersistentChatData`): the legacy pool's exported data now lives in the target pool. */
export interface ImportLegacyPoolData {
  readonly type: 'ImportLegacyPoolData';
  readonly legacyPoolFqdn: Fqdn;
  readonly targetPoolFqdn: Fqdn;
  /** The export file the data came from (`-FileName`). */
  readonly fileName: string;
}

/** Compensates step 3: the import is marked reverted; rooms it created stay in the target pool (R19). */
export interface RevertLegacyPoolDataImport {
  readonly type: 'RevertLegacyPoolDataImport';
  readonly legacyPoolFqdn: Fqdn;
  readonly reason?: string;
}

/** Migration step 4: deletes the legacy pool's well-known user, and nothing else that might own its address by then. */
export interface DeleteWellKnownUser {
  readonly type: 'DeleteWellKnownUser';
  readonly sipAddress: SipUri;
  readonly legacyPoolFqdn: Fqdn;
  readonly reason: string;
}

/** Compensates step 4: the well-known user comes back with the attributes it was deleted with. */
export interface RestoreWellKnownUser {
  readonly type: 'RestoreWellKnownUser';
  readonly sipAddress: SipUri;
  readonly legacyPoolFqdn: Fqdn;
  readonly displayName: string | null;
}

/** Compensates step 6: a Persistent Chat pool started by a migration goes back to the status it had before. */
export interface RevertPoolStart {
  readonly type: 'RevertPoolStart';
  readonly fqdn: Fqdn;
  readonly status: 'Installed' | 'Stopped';
}

export interface RegisterSipDomain {
  readonly type: 'RegisterSipDomain';
  readonly domain: Fqdn;
  /** The first domain registered becomes the default whatever this says. */
  readonly isDefault?: boolean;
}

export interface SetDefaultSipDomain {
  readonly type: 'SetDefaultSipDomain';
  readonly domain: Fqdn;
}

export interface RemoveSipDomain {
  readonly type: 'RemoveSipDomain';
  readonly domain: Fqdn;
  readonly reason?: string;
}

export interface RegisterSipPrincipal {
  readonly type: 'RegisterSipPrincipal';
  readonly sipAddress: SipUri;
  /** Well-known users are created by DefineLegacyGroupChatPool, never directly. */
  readonly kind: 'user' | 'contact';
  readonly displayName?: string;
}

export interface DeleteSipPrincipal {
  readonly type: 'DeleteSipPrincipal';
  readonly sipAddress: SipUri;
  readonly reason?: string;
}

/**
 * The computer running each Group Chat service. Lookup and Channel default to the pool's FQDN
 * (a pool on one computer); Web (file posting) and Compliance are absent unless named.
 */
export interface LegacyGroupChatServicesInput {
  readonly lookup?: Fqdn;
  readonly channel?: Fqdn;
  readonly web?: Fqdn;
  readonly compliance?: Fqdn;
}

export interface DefineLegacyGroupChatPool {
  readonly type: 'DefineLegacyGroupChatPool';
  readonly fqdn: Fqdn;
  readonly version: LegacyGroupChatVersion;
  /** Created as the pool's well-known user when no one owns it (R15); refused when someone does (R3). */
  readonly wellKnownSipAddress: SipUri;
  readonly services?: LegacyGroupChatServicesInput;
  /** SQL Server instance of the pool's database, `server\instance`. */
  readonly databaseInstance?: string;
}

export interface DecommissionLegacyPool {
  readonly type: 'DecommissionLegacyPool';
  readonly fqdn: Fqdn;
  readonly reason?: string;
}

export interface InstallPersistentChatPool {
  readonly type: 'InstallPersistentChatPool';
  readonly fqdn: Fqdn;
  /** The first four become active (R10). */
  readonly servers: readonly Fqdn[];
  readonly site?: string;
  readonly complianceEnabled?: boolean;
  /** Installed on one computer: `servers` must then hold exactly one, and the pool can never gain more (R10). */
  readonly singleServer?: boolean;
  readonly databaseInstance?: string;
}

export interface RemovePersistentChatPool {
  readonly type: 'RemovePersistentChatPool';
  readonly fqdn: Fqdn;
  readonly reason?: string;
}

export interface AddPersistentChatServer {
  readonly type: 'AddPersistentChatServer';
  readonly poolFqdn: Fqdn;
  readonly serverFqdn: Fqdn;
}

export interface RemovePersistentChatServer {
  readonly type: 'RemovePersistentChatServer';
  readonly poolFqdn: Fqdn;
  readonly serverFqdn: Fqdn;
  readonly reason?: string;
}

/** R12, as `Set-CsPersistentChatActiveServer`: `@{Add=}`, `@{Remove=}`, `@{Replace=}`, `$Null`, `-Swap`. */
export type ActiveServersChange =
  | { readonly kind: 'add'; readonly servers: readonly Fqdn[] }
  | { readonly kind: 'remove'; readonly servers: readonly Fqdn[] }
  | { readonly kind: 'replace'; readonly servers: readonly Fqdn[] }
  | { readonly kind: 'clear' }
  | { readonly kind: 'swap' };

export interface SetPersistentChatActiveServers {
  readonly type: 'SetPersistentChatActiveServers';
  readonly poolFqdn: Fqdn;
  readonly change: ActiveServersChange;
}

export interface SetPersistentChatState {
  readonly type: 'SetPersistentChatState';
  readonly poolFqdn: Fqdn;
  readonly poolState: PersistentChatPoolState;
}

/** Starts a pool of either kind (R14). */
export interface StartPool {
  readonly type: 'StartPool';
  readonly fqdn: Fqdn;
}

/** Stops a pool of either kind (R14). */
export interface StopPool {
  readonly type: 'StopPool';
  readonly fqdn: Fqdn;
}

/** `New-CsPersistentChatEndpoint -SipAddress -PersistentChatPoolFqdn [-DisplayName]`. */
export interface CreateEndpoint {
  readonly type: 'CreateEndpoint';
  readonly sipAddress: SipUri;
  /** `-PersistentChatPoolFqdn`; errors name the input field `persistentChatPoolFqdn`. */
  readonly poolFqdn: Fqdn;
  readonly displayName?: string;
  /**
   * The contact's objectGUID, lower case without braces: its distinguished name is
   * `CN={guid},CN=Application Contacts,...` of the forest. It comes with the command (the API gives a
   * new one when none is sent); without one, the DN is derived from the SIP address as before.
   */
  readonly objectGuid?: string;
}

/** `Remove-CsPersistentChatEndpoint -Identity`: a SIP address, a display name or a distinguished name (R6). */
export interface RemoveEndpoint {
  readonly type: 'RemoveEndpoint';
  readonly identity: string;
  readonly reason?: string;
}
