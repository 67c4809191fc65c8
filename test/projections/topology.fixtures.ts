import fc from 'fast-check';
import { refusalStreamId, topologyStreamId } from '../../src/application/streams';
import { DomainError } from '../../src/domain/errors';
import { parseFqdn, type Fqdn } from '../../src/domain/shared/fqdn';
import { parseSipUri, type SipUri } from '../../src/domain/shared/sip-uri';
import {
  type ActiveServersChange,
  type TopologyCommand,
  type TopologyEvent,
  type TopologyState,
  decide,
  evolve,
  foldTopology,
  initialState,
  wellKnownUserOf,
} from '../../src/domain/topology';
import type { JsonObject, RecordedEvent } from '../../src/event-store/event-store';
import { recorded } from '../../projections/runner/testing';
import type { Topology } from '../../projections/topology/topology.query';

export const sip = (address: string): SipUri => parseSipUri(address, 'sipAddress');
export const fqdn = (name: string): Fqdn => parseFqdn(name, 'fqdn');

/** The moment the event at `position` is recorded in these specs: one minute apart, from 2026-01-01. */
export const recordedAt = (position: number): Date => new Date(Date.UTC(2026, 0, 1) + position * 60_000);

/**
 * A log written the way the write side writes it: each command decided by the domain against its
 * deployment's state, its events appended to `topology-<deployment>` with global positions, and a
 * refused command recorded in `refused_command-<deployment>` (a stream the topology ignores).
 */
export class Log {
  readonly events: RecordedEvent[] = [];
  private position = 0;
  private readonly deployments = new Map<string, { state: TopologyState; revision: number }>();

  /** Decides and appends `command`; returns its events (none when refused). */
  run(command: TopologyCommand, deployment = 'default'): TopologyEvent[] {
    const current = this.deployments.get(deployment) ?? { state: initialState(), revision: -1 };
    let events: TopologyEvent[];
    try {
      events = decide(command, current.state).events;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      this.append(refusalStreamId(deployment), 0, 'CommandRefused', { command: command.type, code: error.code });
      return [];
    }
    for (const event of events) {
      current.revision += 1;
      current.state = evolve(current.state, event);
      this.append(topologyStreamId(deployment), current.revision, event.type, event.data);
    }
    this.deployments.set(deployment, current);
    return events;
  }

  /** Like `run`, but the command must be accepted. */
  accept(command: TopologyCommand, deployment = 'default'): TopologyEvent[] {
    const events = this.run(command, deployment);
    if (events.length === 0) throw new Error(`${command.type} was refused: ${JSON.stringify(decideError(command, this.state(deployment)))}`);
    return events;
  }

  /** Appends any event to any stream, e.g. one of a kind the projections do not know. */
  append(streamId: string, revision: number, type: string, data: JsonObject): RecordedEvent {
    this.position += 1;
    const event = recorded(streamId, type, data, { position: this.position, revision, created: recordedAt(this.position) });
    this.events.push(event);
    return event;
  }

  /** The log's last position (0 when empty). */
  get head(): number {
    return this.position;
  }

  state(deployment = 'default'): TopologyState {
    return this.deployments.get(deployment)?.state ?? initialState();
  }
}

function decideError(command: TopologyCommand, state: TopologyState): unknown {
  try {
    decide(command, state);
    return null;
  } catch (error) {
    return error instanceof DomainError ? { code: error.code, message: error.message } : String(error);
  }
}

/**
 * The reference the projections are checked against: the domain's own fold of the deployment's
 * events up to `position`, read straight from the log, without any read model.
 */
export function replay(events: readonly RecordedEvent[], deployment: string, position: number): {
  state: TopologyState;
  last: RecordedEvent | undefined;
} {
  const stream = topologyStreamId(deployment);
  const upTo = events.filter((event) => event.streamId === stream && event.position <= position);
  const domainEvents = upTo.map((event) => ({ type: event.type, data: event.data }) as unknown as TopologyEvent);
  return { state: foldTopology(domainEvents), last: upTo[upTo.length - 1] };
}

/** A domain state in the shape of `GET /api/topology`, built independently of the projection's query code. */
export function expectedTopology(deployment: string, state: TopologyState, last: RecordedEvent | undefined): Topology {
  const byKey = <E>(key: (entry: E) => string) => (a: E, b: E): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  const endpoints = [...state.endpoints.values()];
  return {
    deployment,
    position: last?.position ?? null,
    revision: last?.revision ?? null,
    sipDomains: [...state.sipDomains]
      .map((domain) => ({ domain: String(domain), isDefault: domain === state.defaultSipDomain }))
      .sort(byKey((entry) => entry.domain)),
    defaultSipDomain: state.defaultSipDomain,
    principals: [...state.principals.values()]
      .map((principal) => ({
        sipAddress: String(principal.sipAddress),
        kind: principal.kind,
        displayName: principal.displayName,
        legacyPoolFqdn: principal.legacyPoolFqdn,
      }))
      .sort(byKey((entry) => entry.sipAddress)),
    legacyPools: [...state.legacyPools.values()]
      .map((pool) => {
        const wellKnownUser = wellKnownUserOf(state, pool.fqdn);
        return {
          fqdn: String(pool.fqdn),
          version: pool.version,
          status: pool.status,
          wellKnownSipAddress: String(pool.wellKnownSipAddress),
          wellKnownUser: wellKnownUser ? { sipAddress: String(wellKnownUser.sipAddress), displayName: wellKnownUser.displayName } : null,
          services: { ...pool.services },
          databaseInstance: pool.databaseInstance,
          dataMigratedTo: pool.dataMigratedTo,
        };
      })
      .sort(byKey((entry) => entry.fqdn)),
    persistentChatPools: [...state.persistentChatPools.values()]
      .map((pool) => ({
        fqdn: String(pool.fqdn),
        site: pool.site,
        status: pool.status,
        state: pool.poolState,
        complianceEnabled: pool.complianceEnabled,
        singleServer: pool.singleServer,
        databaseInstance: pool.databaseInstance,
        defaultContactSipAddress: String(pool.defaultContactSipAddress),
        servers: pool.servers.map((server) => ({ fqdn: String(server), active: pool.activeServers.includes(server) })),
        endpointCount: endpoints.filter((endpoint) => endpoint.poolFqdn === pool.fqdn).length,
      }))
      .sort(byKey((entry) => entry.fqdn)),
    endpoints: endpoints
      .map((endpoint) => ({
        sipAddress: String(endpoint.sipAddress),
        poolFqdn: String(endpoint.poolFqdn),
        displayName: endpoint.displayName,
        distinguishedName: endpoint.distinguishedName,
      }))
      .sort(byKey((entry) => entry.sipAddress)),
  };
}

// ---------------------------------------------------------------------------------------------
// Random command sequences: small vocabularies, so that commands collide on addresses, pools and servers.

const domains = ['contoso.com', 'fabrikam.com'].map(fqdn);
const addresses = [
  'sip:ocschat@contoso.com',
  'sip:persistentchat@contoso.com',
  'sip:alice@contoso.com',
  'sip:ocschat@fabrikam.com',
  // The default contact of pcpool.contoso.com, so principals and endpoints race the pool for it.
  'sip:pc-default-pcpool-contoso-com@contoso.com',
].map(sip);
const pools = ['pcpool.contoso.com', 'pcpool2.contoso.com', 'gc.contoso.com', 'gc2.contoso.com'].map(fqdn);
const servers = ['pc1', 'pc2', 'pc3', 'pc4', 'pc5', 'pc6'].map((name) => fqdn(`${name}.contoso.com`));
const displayNames = ['Persistent Chat', 'persistent chat', 'Legacy Chat'];

const domain = fc.constantFrom(...domains);
const address = fc.constantFrom(...addresses);
const pool = fc.constantFrom(...pools);
const server = fc.constantFrom(...servers);
const serverList = fc.uniqueArray(server, { minLength: 1, maxLength: 5 });
const reason = fc.constant('CHG-1');

const activeServersChange: fc.Arbitrary<ActiveServersChange> = fc.oneof(
  serverList.map((list) => ({ kind: 'add' as const, servers: list })),
  serverList.map((list) => ({ kind: 'remove' as const, servers: list })),
  serverList.map((list) => ({ kind: 'replace' as const, servers: list })),
  fc.constant({ kind: 'clear' as const }),
  fc.constant({ kind: 'swap' as const }),
);

/** Any topology command; many are refused in the state they meet, which the log records elsewhere. */
export const topologyCommand: fc.Arbitrary<TopologyCommand> = fc.oneof(
  fc.record({ type: fc.constant('RegisterSipDomain' as const), domain, isDefault: fc.boolean() }),
  fc.record({ type: fc.constant('SetDefaultSipDomain' as const), domain }),
  fc.record({ type: fc.constant('RemoveSipDomain' as const), domain, reason }),
  fc.record({
    type: fc.constant('RegisterSipPrincipal' as const),
    sipAddress: address,
    kind: fc.constantFrom('user' as const, 'contact' as const),
    displayName: fc.constantFrom(...displayNames),
  }),
  fc.record({ type: fc.constant('DeleteSipPrincipal' as const), sipAddress: address, reason }),
  fc.record({
    type: fc.constant('DefineLegacyGroupChatPool' as const),
    fqdn: pool,
    version: fc.constantFrom('Lync2010' as const, 'OCS2007R2' as const),
    wellKnownSipAddress: address,
    databaseInstance: fc.constant('sql1\\gc'),
  }),
  fc.record({ type: fc.constant('DecommissionLegacyPool' as const), fqdn: pool, reason }),
  fc.record({
    type: fc.constant('InstallPersistentChatPool' as const),
    fqdn: pool,
    servers: serverList,
    singleServer: fc.boolean(),
    site: fc.constantFrom('Redmond', 'Dublin'),
    complianceEnabled: fc.boolean(),
  }),
  fc.record({ type: fc.constant('RemovePersistentChatPool' as const), fqdn: pool, reason }),
  { arbitrary: fc.record({ type: fc.constant('AddPersistentChatServer' as const), poolFqdn: pool, serverFqdn: server }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('RemovePersistentChatServer' as const), poolFqdn: pool, serverFqdn: server, reason }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('SetPersistentChatActiveServers' as const), poolFqdn: pool, change: activeServersChange }), weight: 3 },
  fc.record({ type: fc.constant('SetPersistentChatState' as const), poolFqdn: pool, poolState: fc.constantFrom('Normal' as const, 'FailedOver' as const) }),
  { arbitrary: fc.record({ type: fc.constant('StartPool' as const), fqdn: pool }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('StopPool' as const), fqdn: pool }), weight: 2 },
  {
    arbitrary: fc.record({ type: fc.constant('CreateEndpoint' as const), sipAddress: address, poolFqdn: pool, displayName: fc.constantFrom(...displayNames) }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('CreateEndpoint' as const), sipAddress: address, poolFqdn: pool }), weight: 2 },
  {
    arbitrary: fc.record({
      type: fc.constant('RemoveEndpoint' as const),
      identity: fc.oneof(address.map(String), fc.constantFrom(...displayNames)),
      reason,
    }),
    weight: 3,
  },
);

/** Sequences start from some of these, so that commands find domains and pools to act on. */
export const setupCommands: readonly TopologyCommand[] = [
  { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
  { type: 'RegisterSipDomain', domain: fqdn('fabrikam.com') },
  { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com'), fqdn('pc2.contoso.com')] },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool2.contoso.com'), servers: [fqdn('pc3.contoso.com')] },
];

/** A history of two deployments whose commands interleave in the log: each command says which deployment it is for. */
export const twoDeploymentHistory: fc.Arbitrary<{ deployment: string; command: TopologyCommand }[]> = fc
  .tuple(
    fc.subarray([...setupCommands]),
    fc.array(fc.record({ deployment: fc.constantFrom('contoso', 'fabrikam'), command: topologyCommand }), { minLength: 5, maxLength: 40 }),
  )
  .map(([setup, commands]) => [
    ...setup.map((command) => ({ deployment: 'contoso', command })),
    ...setup.map((command) => ({ deployment: 'fabrikam', command })),
    ...commands,
  ]);
