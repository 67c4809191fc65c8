import fc from 'fast-check';
import { refusalStreamId, topologyStreamId } from '../../src/application/streams';
import { DomainError } from '../../src/domain/errors';
import { parseFqdn, type Fqdn } from '../../src/domain/shared/fqdn';
import { parseSipUri, type SipUri } from '../../src/domain/shared/sip-uri';
import {
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
import { topologyCommand } from '../support/topology-commands';

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
// Random command sequences

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
