import {
  ActiveServersUnchanged,
  AmbiguousIdentity,
  DefaultSipDomainRequired,
  DomainError,
  EndpointNotFound,
  FqdnInUse,
  LastServerOfPool,
  LegacyDataAlreadyImported,
  LegacyDataNotImported,
  MigratedDataNotServed,
  TargetHoldsOtherLegacyData,
  LegacyPoolStillInUse,
  PersistentChatStateUnchanged,
  PoolAlreadyExists,
  PoolHasEndpoints,
  PoolNotFound,
  PoolNotLegacyGroupChat,
  PoolNotPersistentChat,
  PoolStateInvalid,
  ReasonRequired,
  type RuleId,
  ServerAlreadyActive,
  ServerAlreadyInPool,
  ServerIsActive,
  ServerNotActive,
  ServerNotFound,
  ServerNotInPool,
  ServersRequired,
  SingleServerPool,
  SipAddressInUse,
  ObjectGuidInUse,
  SipDomainAlreadyDefault,
  SipDomainAlreadyRegistered,
  SipDomainInUse,
  SipDomainIsDefault,
  SipDomainNotFound,
  SipDomainNotRegistered,
  SipPrincipalNotDeletable,
  SipPrincipalNotFound,
  TooManyActiveServers,
  TooManyServers,
  WellKnownAddressMismatch,
  assertNever,
} from '../errors';
import type { Fqdn } from '../shared/fqdn';
import { type SipUri, sipDomainOf, sipUriOf } from '../shared/sip-uri';
import { contactDistinguishedName, distinguishedNameKey } from '../shared/distinguished-name';
import type {
  AddPersistentChatServer,
  CreateEndpoint,
  DecommissionLegacyPool,
  DefineLegacyGroupChatPool,
  DeleteSipPrincipal,
  DeleteWellKnownUser,
  ImportLegacyPoolData,
  InstallPersistentChatPool,
  RegisterSipDomain,
  RegisterSipPrincipal,
  RemoveEndpoint,
  RemovePersistentChatPool,
  RemovePersistentChatServer,
  RemoveSipDomain,
  RestoreWellKnownUser,
  RevertLegacyPoolDataImport,
  RevertPoolStart,
  SetDefaultSipDomain,
  SetPersistentChatActiveServers,
  SetPersistentChatState,
  StartPool,
  StopPool,
  TopologyCommand,
} from './commands';
import type { EndpointData, TopologyEvent } from './events';
import {
  type LegacyGroupChatPool,
  type PersistentChatEndpoint,
  type PersistentChatPool,
  type TopologyState,
  activeServerCount,
  describeOwner,
  endpointByDistinguishedNameKey,
  endpointsOfPool,
  firstEndpointsOfPool,
  fqdnHolder,
  ownerDetails,
  ownerOf,
  poolOf,
  sipAddressesInDomain,
  wellKnownUserOf,
} from './state';

/** Something the command did that an operator should know about, though it was allowed. */
export interface DomainWarning {
  readonly code: string;
  readonly rule: RuleId;
  readonly message: string;
}

export interface Decision {
  readonly events: TopologyEvent[];
  readonly warnings: DomainWarning[];
}

/** Limits of R10 and capacity guidance of R13. */
export const topologyLimits = {
  maxServersPerPool: 8,
  maxActiveServersPerPool: 4,
  usersPerActiveServer: 20_000,
  provisionedUsersPerOrganization: 150_000,
} as const;

/**
 * Decides what `command` does to the topology `state`: the events to append and the warnings to
 * report. Refuses by throwing a DomainError; never changes `state`.
 */
export function decide(command: TopologyCommand, state: TopologyState): Decision {
  switch (command.type) {
    case 'RegisterSipDomain':
      return registerSipDomain(command, state);
    case 'SetDefaultSipDomain':
      return setDefaultSipDomain(command, state);
    case 'RemoveSipDomain':
      return removeSipDomain(command, state);
    case 'RegisterSipPrincipal':
      return registerSipPrincipal(command, state);
    case 'DeleteSipPrincipal':
      return deleteSipPrincipal(command, state);
    case 'DefineLegacyGroupChatPool':
      return defineLegacyGroupChatPool(command, state);
    case 'DecommissionLegacyPool':
      return decommissionLegacyPool(command, state);
    case 'InstallPersistentChatPool':
      return installPersistentChatPool(command, state);
    case 'RemovePersistentChatPool':
      return removePersistentChatPool(command, state);
    case 'AddPersistentChatServer':
      return addPersistentChatServer(command, state);
    case 'RemovePersistentChatServer':
      return removePersistentChatServer(command, state);
    case 'SetPersistentChatActiveServers':
      return setPersistentChatActiveServers(command, state);
    case 'SetPersistentChatState':
      return setPersistentChatState(command, state);
    case 'StartPool':
      return startPool(command, state);
    case 'StopPool':
      return stopPool(command, state);
    case 'CreateEndpoint':
      return createEndpoint(command, state);
    case 'RemoveEndpoint':
      return removeEndpoint(command, state);
    case 'ImportLegacyPoolData':
      return importLegacyPoolData(command, state);
    case 'RevertLegacyPoolDataImport':
      return revertLegacyPoolDataImport(command, state);
    case 'DeleteWellKnownUser':
      return deleteWellKnownUser(command, state);
    case 'RestoreWellKnownUser':
      return restoreWellKnownUser(command, state);
    case 'RevertPoolStart':
      return revertPoolStart(command, state);
    default:
      return assertNever(command);
  }
}

/**
 * The address of a pool's default pool contact (R7): `sip:pc-default-pcpool-contoso-com@contoso.com`.
 * Derived from the pool, so installing the same pool again yields the same contact.
 */
export function defaultPoolContactAddress(poolFqdn: Fqdn, defaultSipDomain: Fqdn): SipUri {
  return sipUriOf(`pc-default-${poolFqdn.replace(/\./g, '-')}`, defaultSipDomain);
}

/**
 * The distinguished name an endpoint's contact object gets, under the RTC Service's application
 * contacts. Derived from its address so that -Identity can name it before any directory exists.
 */
export function endpointDistinguishedName(sipAddress: SipUri): string {
  const domainComponents = sipDomainOf(sipAddress)
    .split('.')
    .map((label) => `DC=${label}`)
    .join(',');
  return `CN=${escapeRdnValue(sipAddress.slice('sip:'.length))},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,${domainComponents}`;
}

// ---------------------------------------------------------------------------------------------
// SIP domains

function registerSipDomain(command: RegisterSipDomain, state: TopologyState): Decision {
  if (state.sipDomains.has(command.domain)) throw new SipDomainAlreadyRegistered(command.domain);
  // The deployment always has a default once it has a domain: the first one registered takes the role.
  const isDefault = command.isDefault === true || state.defaultSipDomain === null;
  return accept({
    type: 'SipDomainRegistered',
    data: { domain: command.domain, isDefault, previousDefault: isDefault ? state.defaultSipDomain : null },
  });
}

function setDefaultSipDomain(command: SetDefaultSipDomain, state: TopologyState): Decision {
  if (!state.sipDomains.has(command.domain)) throw new SipDomainNotFound(command.domain);
  if (state.defaultSipDomain === command.domain) throw new SipDomainAlreadyDefault(command.domain);
  return accept({ type: 'DefaultSipDomainChanged', data: { domain: command.domain, previousDefault: state.defaultSipDomain } });
}

function removeSipDomain(command: RemoveSipDomain, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  if (!state.sipDomains.has(command.domain)) throw new SipDomainNotFound(command.domain);
  const inUse = sipAddressesInDomain(state, command.domain);
  if (inUse.length > 0) throw new SipDomainInUse(command.domain, inUse); // R1: a `sip:` address in a valid, registered SIP domain
  const wasDefault = state.defaultSipDomain === command.domain;
  const others = [...state.sipDomains].filter((domain) => domain !== command.domain);
  if (wasDefault && others.length > 0) throw new SipDomainIsDefault(command.domain, others);
  return accept({ type: 'SipDomainRemoved', data: { domain: command.domain, wasDefault, reason } });
}

// ---------------------------------------------------------------------------------------------
// SIP principals

function registerSipPrincipal(command: RegisterSipPrincipal, state: TopologyState): Decision {
  requireRegisteredDomain(state, command.sipAddress, 'sipAddress');
  requireFreeSipAddress(state, command.sipAddress, 'sipAddress');
  const warnings =
    command.kind === 'user'
      ? capacityWarnings({
          users: state.userCount + 1,
          activeServers: activeServerCount(state),
          persistentChatPools: state.persistentChatPools.size,
        })
      : [];
  return {
    events: [
      {
        type: 'SipPrincipalRegistered',
        data: { sipAddress: command.sipAddress, kind: command.kind, displayName: optionalText(command.displayName), legacyPoolFqdn: null },
      },
    ],
    warnings,
  };
}

function deleteSipPrincipal(command: DeleteSipPrincipal, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  const owner = ownerOf(state, command.sipAddress);
  if (!owner) throw new SipPrincipalNotFound(command.sipAddress);
  if (owner.kind !== 'principal') {
    const instead = owner.kind === 'endpoint' ? 'RemoveEndpoint' : 'RemovePersistentChatPool (the default pool contact goes with its pool)';
    throw new SipPrincipalNotDeletable(command.sipAddress, ownerDetails(owner), describeOwner(owner), instead);
  }
  const { principal } = owner;
  const warnings: DomainWarning[] = [];
  const legacyPool = principal.legacyPoolFqdn ? state.legacyPools.get(principal.legacyPoolFqdn) : undefined;
  if (principal.kind === 'wellKnownUser' && legacyPool?.status === 'Started') {
    warnings.push({
      code: 'LEGACY_POOL_UNREACHABLE',
      rule: 'R15',
      message:
        `R15: legacy clients reach ${legacyPool.fqdn} through its well-known user ${principal.sipAddress}; ` +
        `the pool is still Started and clients can no longer reach it.`,
    });
  }
  return {
    events: [{ type: 'SipPrincipalDeleted', data: { ...principal, reason } }],
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// Legacy Group Chat pools

function defineLegacyGroupChatPool(command: DefineLegacyGroupChatPool, state: TopologyState): Decision {
  requireNewPoolFqdn(state, command.fqdn);
  const services = {
    lookup: command.services?.lookup ?? command.fqdn,
    channel: command.services?.channel ?? command.fqdn,
    web: command.services?.web ?? null,
    compliance: command.services?.compliance ?? null,
  };
  for (const [service, serverFqdn] of Object.entries(services)) {
    if (serverFqdn !== null) requireComputerFree(state, serverFqdn, command.fqdn, `services.${service}`);
  }
  requireRegisteredDomain(state, command.wellKnownSipAddress, 'wellKnownSipAddress');
  requireFreeSipAddress(state, command.wellKnownSipAddress, 'wellKnownSipAddress');
  return {
    events: [
      {
        type: 'LegacyGroupChatPoolDefined',
        data: {
          fqdn: command.fqdn,
          version: command.version,
          wellKnownSipAddress: command.wellKnownSipAddress,
          services,
          databaseInstance: optionalText(command.databaseInstance),
        },
      },
      {
        type: 'SipPrincipalRegistered',
        data: { sipAddress: command.wellKnownSipAddress, kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: command.fqdn },
      },
    ],
    warnings: [],
  };
}

function decommissionLegacyPool(command: DecommissionLegacyPool, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  const pool = requireLegacyPool(state, command.fqdn, 'fqdn');
  if (pool.status !== 'Stopped') throw new PoolStateInvalid(pool.fqdn, 'decommission', pool.status, ['Stopped'], 'fqdn'); // R14: pool life cycle
  if (wellKnownUserOf(state, pool.fqdn) && pool.dataMigratedTo === null) { // R15: a legacy pool and its well-known user
    throw new LegacyPoolStillInUse(pool.fqdn, pool.wellKnownSipAddress);
  }
  // R16, R20: decommissioning ends any chance of rollback, so the data must already be served from its new home.
  if (pool.dataMigratedTo !== null && state.persistentChatPools.get(pool.dataMigratedTo)?.status !== 'Started') {
    throw new MigratedDataNotServed(pool.fqdn, pool.dataMigratedTo);
  }
  return accept({
    type: 'LegacyGroupChatPoolDecommissioned',
    data: {
      fqdn: pool.fqdn,
      version: pool.version,
      wellKnownSipAddress: pool.wellKnownSipAddress,
      dataMigratedTo: pool.dataMigratedTo,
      reason,
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Persistent Chat pools

function installPersistentChatPool(command: InstallPersistentChatPool, state: TopologyState): Decision {
  const servers = unique(command.servers);
  if (servers.length === 0) throw new ServersRequired('servers');
  const maxServers = command.singleServer === true ? 1 : topologyLimits.maxServersPerPool;
  if (servers.length > maxServers) throw new TooManyServers(command.fqdn, 'servers', servers.length, maxServers, 'invalid'); // R10: at most 8 servers, 4 active; a single-computer pool gains none
  requireNewPoolFqdn(state, command.fqdn);
  for (const server of servers) requireComputerFree(state, server, command.fqdn, 'servers');
  if (state.defaultSipDomain === null) throw new DefaultSipDomainRequired(command.fqdn); // R7: the default pool contact needs a default SIP domain
  const defaultContactSipAddress = defaultPoolContactAddress(command.fqdn, state.defaultSipDomain);
  requireFreeSipAddress(state, defaultContactSipAddress, 'fqdn');
  return accept({
    type: 'PersistentChatPoolInstalled',
    data: {
      fqdn: command.fqdn,
      servers,
      activeServers: servers.slice(0, topologyLimits.maxActiveServersPerPool),
      site: optionalText(command.site),
      complianceEnabled: command.complianceEnabled === true,
      singleServer: command.singleServer === true,
      databaseInstance: optionalText(command.databaseInstance),
      defaultContactSipAddress,
    },
  });
}

function removePersistentChatPool(command: RemovePersistentChatPool, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  const pool = requirePersistentChatPool(state, command.fqdn, 'fqdn');
  const endpoints = endpointsOfPool(state, pool.fqdn);
  if (endpoints.length > 0) throw new PoolHasEndpoints(pool.fqdn, endpoints); // R9: a pool with endpoints is not removed
  if (pool.status === 'Started') throw new PoolStateInvalid(pool.fqdn, 'remove', pool.status, ['Installed', 'Stopped'], 'fqdn'); // R14: pool life cycle
  const warnings =
    pool.activeServers.length > 0
      ? activeServerCapacityWarnings({
          users: state.userCount,
          activeServers: activeServerCount(state) - pool.activeServers.length,
          persistentChatPools: state.persistentChatPools.size - 1,
        })
      : [];
  return {
    events: [
      {
        type: 'PersistentChatPoolRemoved',
        data: {
          fqdn: pool.fqdn,
          servers: [...pool.servers],
          activeServers: [...pool.activeServers],
          site: pool.site,
          complianceEnabled: pool.complianceEnabled,
          singleServer: pool.singleServer,
          databaseInstance: pool.databaseInstance,
          defaultContactSipAddress: pool.defaultContactSipAddress,
          poolState: pool.poolState,
          status: pool.status,
          reason,
        },
      },
    ],
    warnings,
  };
}

function addPersistentChatServer(command: AddPersistentChatServer, state: TopologyState): Decision {
  const pool = requirePersistentChatPool(state, command.poolFqdn, 'poolFqdn');
  if (pool.singleServer) throw new SingleServerPool(pool.fqdn); // R10: at most 8 servers, 4 active; a single-computer pool gains none
  if (pool.servers.includes(command.serverFqdn)) throw new ServerAlreadyInPool(pool.fqdn, command.serverFqdn);
  const count = pool.servers.length + 1;
  if (count > topologyLimits.maxServersPerPool) { // R10: at most 8 servers, 4 active; a single-computer pool gains none
    throw new TooManyServers(pool.fqdn, 'serverFqdn', count, topologyLimits.maxServersPerPool, 'conflict');
  }
  requireComputerFree(state, command.serverFqdn, pool.fqdn, 'serverFqdn');
  return accept({ type: 'PersistentChatServerAdded', data: { poolFqdn: pool.fqdn, serverFqdn: command.serverFqdn } });
}

function removePersistentChatServer(command: RemovePersistentChatServer, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  const pool = requirePersistentChatPool(state, command.poolFqdn, 'poolFqdn');
  if (!pool.servers.includes(command.serverFqdn)) throw new ServerNotFound(pool.fqdn, command.serverFqdn);
  // Refused rather than silently deactivated: an active server may be holding client connections.
  if (pool.activeServers.includes(command.serverFqdn)) throw new ServerIsActive(pool.fqdn, command.serverFqdn); // R12: the active servers of a pool
  if (pool.servers.length === 1) throw new LastServerOfPool(pool.fqdn, command.serverFqdn);
  return accept({ type: 'PersistentChatServerRemoved', data: { poolFqdn: pool.fqdn, serverFqdn: command.serverFqdn, reason } });
}

function setPersistentChatActiveServers(command: SetPersistentChatActiveServers, state: TopologyState): Decision {
  const pool = requirePersistentChatPool(state, command.poolFqdn, 'poolFqdn');
  const max = topologyLimits.maxActiveServersPerPool;
  const active = new Set(pool.activeServers);
  const { change } = command;
  let next: Set<Fqdn>;
  switch (change.kind) {
    case 'add': {
      const servers = requireServersOfPool(pool, change.servers, change.kind);
      const already = servers.filter((server) => active.has(server));
      if (already.length > 0) throw new ServerAlreadyActive(pool.fqdn, already, change.kind); // R12: the active servers of a pool
      next = new Set([...active, ...servers]);
      if (next.size > max) throw new TooManyActiveServers(pool.fqdn, change.kind, inPoolOrder(pool, next), max, 'conflict'); // R10: at most 8 servers, 4 active; a single-computer pool gains none
      break;
    }
    case 'remove': {
      const servers = requireServersOfPool(pool, change.servers, change.kind);
      const inactive = servers.filter((server) => !active.has(server));
      if (inactive.length > 0) throw new ServerNotActive(pool.fqdn, inactive, change.kind); // R12: the active servers of a pool
      next = new Set([...active].filter((server) => !servers.includes(server)));
      break;
    }
    case 'replace': {
      const servers = unique(change.servers);
      requireMembers(pool, servers, change.kind);
      if (servers.length > max) throw new TooManyActiveServers(pool.fqdn, change.kind, servers, max, 'invalid'); // R10: at most 8 servers, 4 active; a single-computer pool gains none
      next = new Set(servers);
      break;
    }
    case 'clear':
      next = new Set();
      break;
    case 'swap': {
      next = new Set(pool.servers.filter((server) => !active.has(server)));
      if (next.size > max) throw new TooManyActiveServers(pool.fqdn, change.kind, inPoolOrder(pool, next), max, 'conflict'); // R10: at most 8 servers, 4 active; a single-computer pool gains none
      break;
    }
    default:
      return assertNever(change);
  }
  const activeServers = inPoolOrder(pool, next);
  if (sameMembers(activeServers, pool.activeServers)) throw new ActiveServersUnchanged(pool.fqdn, pool.activeServers); // R12: the active servers of a pool

  const warnings: DomainWarning[] = [];
  if (activeServers.length === 0 && pool.status === 'Started') warnings.push(noActiveServersWarning(pool.fqdn));
  if (activeServers.length < pool.activeServers.length) {
    warnings.push(
      ...activeServerCapacityWarnings({
        users: state.userCount,
        activeServers: activeServerCount(state) - pool.activeServers.length + activeServers.length,
        persistentChatPools: state.persistentChatPools.size,
      }),
    );
  }
  return {
    events: [
      {
        type: 'PersistentChatActiveServersChanged',
        data: { poolFqdn: pool.fqdn, change: change.kind, activeServers, previousActiveServers: [...pool.activeServers] },
      },
    ],
    warnings,
  };
}

function setPersistentChatState(command: SetPersistentChatState, state: TopologyState): Decision {
  const pool = requirePersistentChatPool(state, command.poolFqdn, 'poolFqdn');
  if (pool.poolState === command.poolState) throw new PersistentChatStateUnchanged(pool.fqdn, pool.poolState); // R11: pool state Normal or FailedOver
  return accept({
    type: 'PersistentChatStateChanged',
    data: { poolFqdn: pool.fqdn, poolState: command.poolState, previousPoolState: pool.poolState },
  });
}

// ---------------------------------------------------------------------------------------------
// Pool life cycle (R14), both kinds

function startPool(command: StartPool, state: TopologyState): Decision {
  const found = poolOf(state, command.fqdn);
  if (!found) throw new PoolNotFound(command.fqdn, 'fqdn');
  if (found.kind === 'persistentChat') {
    const { pool } = found;
    if (pool.status === 'Started') throw new PoolStateInvalid(pool.fqdn, 'start', pool.status, ['Installed', 'Stopped'], 'fqdn'); // R14: pool life cycle
    return {
      events: [{ type: 'PoolStarted', data: { fqdn: pool.fqdn, poolKind: found.kind, previousStatus: pool.status } }],
      warnings: pool.activeServers.length === 0 ? [noActiveServersWarning(pool.fqdn)] : [],
    };
  }
  const { pool } = found;
  if (pool.status !== 'Stopped') throw new PoolStateInvalid(pool.fqdn, 'start', pool.status, ['Stopped'], 'fqdn'); // R14: pool life cycle
  return accept({ type: 'PoolStarted', data: { fqdn: pool.fqdn, poolKind: found.kind, previousStatus: pool.status } });
}

function stopPool(command: StopPool, state: TopologyState): Decision {
  const found = poolOf(state, command.fqdn);
  if (!found) throw new PoolNotFound(command.fqdn, 'fqdn');
  const { status, fqdn } = found.pool;
  if (status !== 'Started') throw new PoolStateInvalid(fqdn, 'stop', status, ['Started'], 'fqdn'); // R14: pool life cycle
  return accept({ type: 'PoolStopped', data: { fqdn, poolKind: found.kind, previousStatus: status } });
}

// ---------------------------------------------------------------------------------------------
// Persistent Chat endpoints

function createEndpoint(command: CreateEndpoint, state: TopologyState): Decision {
  const poolField = 'persistentChatPoolFqdn';
  requireRegisteredDomain(state, command.sipAddress, 'sipAddress');
  const pool = requirePersistentChatPool(state, command.poolFqdn, poolField, 'R4');
  requireFreeSipAddress(state, command.sipAddress, 'sipAddress');
  // The contact lives in the forest's configuration partition: the deployment's default SIP domain names the forest.
  const distinguishedName = command.objectGuid
    ? contactDistinguishedName(command.objectGuid, state.defaultSipDomain ?? sipDomainOf(command.sipAddress))
    : endpointDistinguishedName(command.sipAddress);
  // Both looked up in the state's indexes: a deployment's size must not make each command slower.
  const holder = endpointByDistinguishedNameKey(state, distinguishedNameKey(distinguishedName));
  if (holder) throw new ObjectGuidInUse(command.objectGuid ?? distinguishedName, holder.sipAddress); // R3: one owner at a time

  const warnings: DomainWarning[] = [];
  const existing = firstEndpointsOfPool(state, pool.fqdn, 3);
  if (existing.count > 0) {
    warnings.push({
      code: 'ADDITIONAL_ENDPOINT_FOR_POOL',
      rule: 'R8',
      message:
        // At most three named: the warning is stored with every later endpoint, so it must not grow with the pool.
        `R8 (policy): ${pool.fqdn} already has ${existing.count} endpoint(s) (${existing.first.map((e) => e.sipAddress).join(', ')}${existing.count > 3 ? ', ...' : ''}); ` +
        `one per pool is enough, and a legacy client connects to one pool at a time.`,
    });
  }
  return {
    events: [
      {
        type: 'PersistentChatEndpointCreated',
        data: {
          sipAddress: command.sipAddress,
          poolFqdn: pool.fqdn,
          displayName: optionalText(command.displayName),
          distinguishedName,
        },
      },
    ],
    warnings,
  };
}

function removeEndpoint(command: RemoveEndpoint, state: TopologyState): Decision {
  if (optionalText(command.reason) === null) {
    // The refusal names the endpoint an -Identity by distinguished or display name stands for, so that
    // the audit trail files it under that endpoint (its SIP address), as it files the removal.
    let known: PersistentChatEndpoint | undefined;
    try {
      known = resolveEndpointIdentity(state, command.identity);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
    throw new ReasonRequired(command.type, 'product', known ? `endpoint:${known.sipAddress}` : undefined);
  }
  const reason = requireReason(command.reason, command.type);
  const endpoint = resolveEndpointIdentity(state, command.identity);
  const data: EndpointData = { ...endpoint };
  return accept({ type: 'PersistentChatEndpointRemoved', data: { ...data, reason } });
}

/** R6: `-Identity` is a SIP address, a distinguished name or a display name, in that order of recognition. */
function resolveEndpointIdentity(state: TopologyState, rawIdentity: string): PersistentChatEndpoint {
  const identity = rawIdentity.trim();
  const lowered = identity.toLowerCase();
  if (lowered.startsWith('sip:')) {
    const endpoint = state.endpoints.get(lowered as SipUri);
    if (endpoint) return endpoint; // R6: found by its SIP address
    const owner = ownerOf(state, lowered as SipUri);
    throw new EndpointNotFound(identity, undefined, owner ? ownerDetails(owner) : undefined);
  }
  if (lowered.startsWith('cn=')) {
    // The documented form may have a space after each comma.
    const key = distinguishedNameKey(identity);
    const endpoint = [...state.endpoints.values()].find((candidate) => distinguishedNameKey(candidate.distinguishedName) === key);
    if (endpoint) return endpoint; // R6: found by its distinguished name
    throw new EndpointNotFound(identity);
  }
  // Active Directory compares display names without regard to case.
  const matches = [...state.endpoints.values()].filter((candidate) => candidate.displayName?.toLowerCase() === lowered);
  const [only] = matches;
  if (matches.length > 1) throw new AmbiguousIdentity(identity, matches); // R6: a display name must name one endpoint
  if (only) return only; // R6: found by its display name
  const withPrefix = `sip:${lowered}`;
  throw new EndpointNotFound(identity, state.endpoints.has(withPrefix as SipUri) ? withPrefix : undefined);
}

// ---------------------------------------------------------------------------------------------
// Migration steps and their compensations (R16–R20)

function importLegacyPoolData(command: ImportLegacyPoolData, state: TopologyState): Decision {
  const legacy = requireLegacyPool(state, command.legacyPoolFqdn, 'legacyPoolFqdn');
  // R14: the import needs the legacy pool Stopped, so the data moves while the legacy pool can no longer change it (the offline window).
  if (legacy.status !== 'Stopped') throw new PoolStateInvalid(legacy.fqdn, 'import the data of', legacy.status, ['Stopped']);
  if (legacy.dataMigratedTo !== null) throw new LegacyDataAlreadyImported(legacy.fqdn, legacy.dataMigratedTo); // R18: one legacy pool per target pool
  const target = requirePersistentChatPool(state, command.targetPoolFqdn, 'targetPoolFqdn');
  const other = [...state.legacyPools.values()].find((pool) => pool.dataMigratedTo === target.fqdn && pool.fqdn !== legacy.fqdn);
  if (other) throw new TargetHoldsOtherLegacyData(target.fqdn, other.fqdn); // R18: one legacy pool per target pool
  return accept({ type: 'LegacyPoolDataImported', data: { legacyPoolFqdn: legacy.fqdn, targetPoolFqdn: target.fqdn, fileName: command.fileName } });
}

function revertLegacyPoolDataImport(command: RevertLegacyPoolDataImport, state: TopologyState): Decision {
  const reason = requireReason(command.reason, command.type);
  const legacy = requireLegacyPool(state, command.legacyPoolFqdn, 'legacyPoolFqdn');
  if (legacy.status === 'Decommissioned') throw new PoolStateInvalid(legacy.fqdn, 'revert the data import of', legacy.status, ['Started', 'Stopped']); // R14: pool life cycle
  if (legacy.dataMigratedTo === null) throw new LegacyDataNotImported(legacy.fqdn); // R20: what a rollback can revert
  return accept({ type: 'LegacyPoolDataImportReverted', data: { legacyPoolFqdn: legacy.fqdn, targetPoolFqdn: legacy.dataMigratedTo, reason } });
}

function deleteWellKnownUser(command: DeleteWellKnownUser, state: TopologyState): Decision {
  const legacy = requireLegacyPool(state, command.legacyPoolFqdn, 'legacyPoolFqdn');
  if (legacy.wellKnownSipAddress !== command.sipAddress) throw new WellKnownAddressMismatch(legacy.fqdn, command.sipAddress, legacy.wellKnownSipAddress); // R15: a legacy pool and its well-known user
  const principal = wellKnownUserOf(state, legacy.fqdn);
  if (!principal) {
    const owner = ownerOf(state, command.sipAddress);
    if (!owner) throw new SipPrincipalNotFound(command.sipAddress);
    // Someone else took the address since the plan: deleting it would delete their object.
    throw new SipPrincipalNotDeletable(command.sipAddress, ownerDetails(owner), describeOwner(owner), 'nothing: it is not the well-known user of ' + legacy.fqdn);
  }
  return accept({ type: 'SipPrincipalDeleted', data: { ...principal, reason: requireReason(command.reason, command.type) } });
}

function restoreWellKnownUser(command: RestoreWellKnownUser, state: TopologyState): Decision {
  const legacy = requireLegacyPool(state, command.legacyPoolFqdn, 'legacyPoolFqdn');
  if (legacy.status === 'Decommissioned') throw new PoolStateInvalid(legacy.fqdn, 'restore the well-known user of', legacy.status, ['Started', 'Stopped']); // R14: pool life cycle
  if (legacy.wellKnownSipAddress !== command.sipAddress) throw new WellKnownAddressMismatch(legacy.fqdn, command.sipAddress, legacy.wellKnownSipAddress); // R15: a legacy pool and its well-known user
  requireRegisteredDomain(state, command.sipAddress, 'sipAddress');
  requireFreeSipAddress(state, command.sipAddress, 'sipAddress');
  return accept({
    type: 'SipPrincipalRegistered',
    data: { sipAddress: command.sipAddress, kind: 'wellKnownUser', displayName: command.displayName, legacyPoolFqdn: legacy.fqdn },
  });
}

function revertPoolStart(command: RevertPoolStart, state: TopologyState): Decision {
  const pool = requirePersistentChatPool(state, command.fqdn, 'fqdn');
  if (pool.status !== 'Started') throw new PoolStateInvalid(pool.fqdn, 'revert the start of', pool.status, ['Started']); // R14: pool life cycle
  return accept({ type: 'PoolStartReverted', data: { fqdn: pool.fqdn, poolKind: 'persistentChat', status: command.status, previousStatus: pool.status } });
}

// ---------------------------------------------------------------------------------------------
// Checks shared by several commands

function accept(...events: TopologyEvent[]): Decision {
  return { events, warnings: [] };
}

function requireReason(reason: string | undefined, command: TopologyCommand['type']): string {
  const text = optionalText(reason);
  if (text === null) throw new ReasonRequired(command);
  return text;
}

function optionalText(text: string | undefined): string | null {
  const trimmed = text?.trim();
  return trimmed ? trimmed : null;
}

/** R1: every SIP address lives in a domain the deployment answers for. */
function requireRegisteredDomain(state: TopologyState, sipAddress: SipUri, field: string): void {
  const domain = sipDomainOf(sipAddress);
  if (!state.sipDomains.has(domain)) throw new SipDomainNotRegistered(domain, sipAddress, field); // R1: a `sip:` address in a valid, registered SIP domain
}

/** R3: one owner per SIP address. */
function requireFreeSipAddress(state: TopologyState, sipAddress: SipUri, field: string): void {
  const owner = ownerOf(state, sipAddress);
  if (owner) throw new SipAddressInUse(sipAddress, ownerDetails(owner), describeOwner(owner), field); // R3: one owner at a time
}

function requireNewPoolFqdn(state: TopologyState, fqdn: Fqdn): void {
  const holder = fqdnHolder(state, fqdn);
  if (!holder) return;
  if (holder.role === 'pool') throw new PoolAlreadyExists(fqdn, holder.poolKind);
  throw new FqdnInUse(fqdn, 'fqdn', holder);
}

/** A computer belongs to one pool; it may carry the name of its own pool (a pool on one computer). */
function requireComputerFree(state: TopologyState, serverFqdn: Fqdn, ownPoolFqdn: Fqdn, field: string): void {
  const holder = fqdnHolder(state, serverFqdn);
  if (holder && holder.poolFqdn !== ownPoolFqdn) throw new FqdnInUse(serverFqdn, field, holder);
}

function requirePersistentChatPool(state: TopologyState, fqdn: Fqdn, field: string, rule?: RuleId): PersistentChatPool {
  const found = poolOf(state, fqdn);
  if (!found) throw new PoolNotFound(fqdn, field, rule);
  if (found.kind !== 'persistentChat') throw new PoolNotPersistentChat(fqdn, field, rule);
  return found.pool;
}

function requireLegacyPool(state: TopologyState, fqdn: Fqdn, field: string): LegacyGroupChatPool {
  const found = poolOf(state, fqdn);
  if (!found) throw new PoolNotFound(fqdn, field);
  if (found.kind !== 'legacyGroupChat') throw new PoolNotLegacyGroupChat(fqdn, field); // R15: a legacy pool and its well-known user
  return found.pool;
}

/** The named servers, without repeats; each must be a server of the pool (R12). `field` names them (the change's kind). */
function requireServersOfPool(pool: PersistentChatPool, servers: readonly Fqdn[], field: string): Fqdn[] {
  const named = unique(servers);
  if (named.length === 0) throw new ServersRequired(field);
  requireMembers(pool, named, field);
  return named;
}

function requireMembers(pool: PersistentChatPool, servers: readonly Fqdn[], field: string): void {
  const strangers = servers.filter((server) => !pool.servers.includes(server));
  if (strangers.length > 0) throw new ServerNotInPool(pool.fqdn, strangers, field); // R12: the active servers of a pool
}

function noActiveServersWarning(poolFqdn: Fqdn): DomainWarning {
  return {
    code: 'NO_ACTIVE_SERVERS',
    rule: 'R12',
    message: `R12: ${poolFqdn} is started with no active server; only active servers accept new client connections.`,
  };
}

interface Capacity {
  readonly users: number;
  readonly activeServers: number;
  readonly persistentChatPools: number;
}

/** R13: guidance, not limits, so exceeding them warns and still applies the change. */
function capacityWarnings(capacity: Capacity): DomainWarning[] {
  const warnings = activeServerCapacityWarnings(capacity);
  const max = topologyLimits.provisionedUsersPerOrganization;
  if (capacity.users > max) {
    warnings.push({
      code: 'PROVISIONED_USERS_OVER_GUIDANCE',
      rule: 'R13',
      message: `R13: ${capacity.users} users are provisioned; the guidance is at most ${max} per organization.`,
    });
  }
  return warnings;
}

/** Counts every provisioned user as possibly concurrent: the deployment keeps no figure of actual concurrency. */
function activeServerCapacityWarnings(capacity: Capacity): DomainWarning[] {
  if (capacity.persistentChatPools === 0) return [];
  const supported = capacity.activeServers * topologyLimits.usersPerActiveServer;
  if (capacity.users <= supported) return [];
  return [
    {
      code: 'ACTIVE_SERVER_CAPACITY_EXCEEDED',
      rule: 'R13',
      message:
        `R13: ${capacity.users} users against ${capacity.activeServers} active Persistent Chat server(s); ` +
        `the guidance is about ${topologyLimits.usersPerActiveServer} concurrent users per active server (${supported} in all).`,
    },
  ];
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

function inPoolOrder(pool: PersistentChatPool, servers: ReadonlySet<Fqdn>): Fqdn[] {
  return pool.servers.filter((server) => servers.has(server));
}

function sameMembers(left: readonly Fqdn[], right: readonly Fqdn[]): boolean {
  return left.length === right.length && left.every((server) => right.includes(server));
}

/** RFC 4514: escape the characters that would otherwise end or split a relative distinguished name. */
function escapeRdnValue(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (character) => `\\${character}`).replace(/^#/, '\\#');
}
