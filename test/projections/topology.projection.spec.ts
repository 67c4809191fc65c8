import fc from 'fast-check';
import type { TopologyState } from '../../src/domain/topology';
import { projectEvents } from '../../projections/runner/testing';
import { topologyProjection } from '../../projections/topology/topology.projection';
import {
  type Topology,
  diffTopology,
  diffTopologyBetween,
  listDeployments,
  positionAsOf,
  positionOfMoment,
  readTopology,
} from '../../projections/topology/topology.query';
import { Log, expectedTopology, fqdn, recordedAt, replay, sip, twoDeploymentHistory } from './topology.fixtures';

const contoso = fqdn('contoso.com');
const fabrikam = fqdn('fabrikam.com');
const gc = fqdn('gc.contoso.com');
const pcpool = fqdn('pcpool.contoso.com');
const ocschat = sip('sip:ocschat@contoso.com');
const persistentchat = sip('sip:persistentchat@contoso.com');
const pc = (n: number) => fqdn(`pc${n}.contoso.com`);

/** The seed scenario up to the point the migration starts: a domain, a legacy pool and a Persistent Chat pool. */
function seededLog(): Log {
  const log = new Log();
  log.accept({ type: 'RegisterSipDomain', domain: contoso });
  log.accept({ type: 'DefineLegacyGroupChatPool', fqdn: gc, version: 'Lync2010', wellKnownSipAddress: ocschat, databaseInstance: 'sql1\\gc' });
  log.accept({ type: 'InstallPersistentChatPool', fqdn: pcpool, servers: [pc(1), pc(2)], site: 'Redmond' });
  return log;
}

function topologyOf(log: Log, deployment = 'default', atPosition?: number): Topology {
  return readTopology(projectEvents(topologyProjection, log.events), deployment, atPosition);
}

describe('topology projection: the seed scenario', () => {
  it('projects the domain, the legacy pool with its well-known user and the Persistent Chat pool with its servers', () => {
    const log = seededLog();
    expect(topologyOf(log)).toEqual({
      deployment: 'default',
      position: 4,
      revision: 3,
      sipDomains: [{ domain: 'contoso.com', isDefault: true }],
      defaultSipDomain: 'contoso.com',
      principals: [{ sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: 'gc.contoso.com' }],
      legacyPools: [
        {
          fqdn: 'gc.contoso.com',
          version: 'Lync2010',
          status: 'Started',
          wellKnownSipAddress: 'sip:ocschat@contoso.com',
          wellKnownUser: { sipAddress: 'sip:ocschat@contoso.com', displayName: null },
          services: { lookup: 'gc.contoso.com', channel: 'gc.contoso.com', web: null, compliance: null },
          databaseInstance: 'sql1\\gc',
          dataMigratedTo: null,
        },
      ],
      persistentChatPools: [
        {
          fqdn: 'pcpool.contoso.com',
          site: 'Redmond',
          status: 'Installed',
          state: 'Normal',
          complianceEnabled: false,
          singleServer: false,
          databaseInstance: null,
          defaultContactSipAddress: 'sip:pc-default-pcpool-contoso-com@contoso.com',
          servers: [
            { fqdn: 'pc1.contoso.com', active: true },
            { fqdn: 'pc2.contoso.com', active: true },
          ],
          endpointCount: 0,
        },
      ],
      endpoints: [],
    });
  });

  it('follows the migration: the well-known user is deleted, an endpoint takes its URI, the pools change status', () => {
    const log = seededLog();
    log.accept({ type: 'CreateEndpoint', sipAddress: persistentchat, poolFqdn: pcpool, displayName: 'Persistent Chat' });
    log.accept({ type: 'StopPool', fqdn: gc });
    const beforeMigration = log.head;
    log.accept({ type: 'DeleteSipPrincipal', sipAddress: ocschat, reason: 'migration step 4' });
    log.accept({ type: 'CreateEndpoint', sipAddress: ocschat, poolFqdn: pcpool });
    log.accept({ type: 'StartPool', fqdn: pcpool });
    log.accept({ type: 'RemoveEndpoint', identity: 'persistent chat', reason: 'one endpoint per pool is enough (R8)' });
    const reader = projectEvents(topologyProjection, log.events);

    const now = readTopology(reader, 'default');
    expect(now.principals).toEqual([]);
    expect(now.legacyPools[0]).toMatchObject({ status: 'Stopped', wellKnownSipAddress: 'sip:ocschat@contoso.com', wellKnownUser: null });
    expect(now.persistentChatPools[0]).toMatchObject({ status: 'Started', endpointCount: 1 });
    expect(now.endpoints).toEqual([
      {
        sipAddress: 'sip:ocschat@contoso.com',
        poolFqdn: 'pcpool.contoso.com',
        displayName: null,
        distinguishedName: 'CN=ocschat@contoso.com,CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=contoso,DC=com',
      },
    ]);

    // As of the moment before step 4, the well-known user still routes clients to the legacy pool.
    const then = readTopology(reader, 'default', beforeMigration);
    expect(then.position).toBe(beforeMigration);
    expect(then.legacyPools[0]?.wellKnownUser).toEqual({ sipAddress: 'sip:ocschat@contoso.com', displayName: null });
    expect(then.endpoints.map((endpoint) => endpoint.sipAddress)).toEqual(['sip:persistentchat@contoso.com']);
    expect(then.persistentChatPools[0]).toMatchObject({ status: 'Installed', endpointCount: 1 });
  });

  it('ignores every stream but topology-<deployment>, and keeps deployments apart', () => {
    const log = seededLog();
    log.append('refused_command-default', 0, 'CommandRefused', { command: 'CreateEndpoint', code: 'SIP_ADDRESS_IN_USE' });
    log.append('migration-0f8fad5b', 0, 'MigrationPlanned', { legacyPoolFqdn: 'gc.contoso.com' });
    log.append('topologyx-default', 0, 'SipDomainRegistered', { domain: 'evil.com', isDefault: true, previousDefault: null });
    log.accept({ type: 'RegisterSipDomain', domain: fabrikam }, 'fabrikam');

    for (const event of log.events.filter((e) => !e.streamId.startsWith('topology-'))) {
      expect(topologyProjection.project(event, { get: () => undefined, find: () => [] })).toEqual([]);
    }
    const reader = projectEvents(topologyProjection, log.events);
    expect(readTopology(reader, 'default').sipDomains).toEqual([{ domain: 'contoso.com', isDefault: true }]);
    expect(readTopology(reader, 'fabrikam')).toMatchObject({ position: log.head, revision: 0, sipDomains: [{ domain: 'fabrikam.com', isDefault: true }] });
    expect(readTopology(reader, 'nobody')).toEqual(expectedTopology('nobody', replay([], 'nobody', 0).state, undefined));
    expect(listDeployments(reader)).toEqual([
      { deployment: 'default', firstPosition: 1, createdAt: recordedAt(1).toISOString() },
      { deployment: 'fabrikam', firstPosition: log.head, createdAt: recordedAt(log.head).toISOString() },
    ]);
  });

  it('does not stop on an event type it does not know', () => {
    const log = seededLog();
    log.append('topology-default', 4, 'SomethingNewHappened', { fqdn: 'pcpool.contoso.com' });
    const topology = topologyOf(log);
    expect(topology).toEqual({ ...expectedTopology('default', log.state(), log.events[log.events.length - 1]) });
    expect(topology.revision).toBe(4);
  });
});

describe('topology projection: entities that change in place', () => {
  it('moves the default SIP domain, and removing a domain removes it', () => {
    const log = seededLog();
    log.accept({ type: 'RegisterSipDomain', domain: fabrikam, isDefault: true });
    const fabrikamDefault = readTopology(projectEvents(topologyProjection, log.events), 'default');
    expect(fabrikamDefault.sipDomains).toEqual([
      { domain: 'contoso.com', isDefault: false },
      { domain: 'fabrikam.com', isDefault: true },
    ]);
    expect(fabrikamDefault.defaultSipDomain).toBe('fabrikam.com');

    log.accept({ type: 'SetDefaultSipDomain', domain: contoso });
    log.accept({ type: 'RemoveSipDomain', domain: fabrikam, reason: 'divested' });
    const reader = projectEvents(topologyProjection, log.events);
    expect(readTopology(reader, 'default').sipDomains).toEqual([{ domain: 'contoso.com', isDefault: true }]);
    expect(readTopology(reader, 'default').defaultSipDomain).toBe('contoso.com');
    expect(readTopology(reader, 'default', log.head - 1).sipDomains).toEqual([
      { domain: 'contoso.com', isDefault: true },
      { domain: 'fabrikam.com', isDefault: false },
    ]);
  });

  it('keeps servers in joining order, tracks which are active (R12) and the pool state (R11)', () => {
    const log = seededLog();
    log.accept({ type: 'AddPersistentChatServer', poolFqdn: pcpool, serverFqdn: pc(3) });
    log.accept({ type: 'AddPersistentChatServer', poolFqdn: pcpool, serverFqdn: pc(4) });
    log.accept({ type: 'SetPersistentChatActiveServers', poolFqdn: pcpool, change: { kind: 'swap' } });
    log.accept({ type: 'SetPersistentChatActiveServers', poolFqdn: pcpool, change: { kind: 'replace', servers: [pc(4), pc(1)] } });
    log.accept({ type: 'RemovePersistentChatServer', poolFqdn: pcpool, serverFqdn: pc(2), reason: 'hardware retired' });
    log.accept({ type: 'SetPersistentChatState', poolFqdn: pcpool, poolState: 'FailedOver' });
    const afterFailover = log.head;
    log.accept({ type: 'SetPersistentChatActiveServers', poolFqdn: pcpool, change: { kind: 'clear' } });
    const reader = projectEvents(topologyProjection, log.events);

    expect(readTopology(reader, 'default', afterFailover).persistentChatPools[0]).toMatchObject({
      state: 'FailedOver',
      servers: [
        { fqdn: 'pc1.contoso.com', active: true },
        { fqdn: 'pc3.contoso.com', active: false },
        { fqdn: 'pc4.contoso.com', active: true },
      ],
    });
    expect(readTopology(reader, 'default').persistentChatPools[0]?.servers.every((server) => !server.active)).toBe(true);
    expect(readTopology(reader, 'default')).toEqual(expectedTopology('default', log.state(), log.events[log.events.length - 1]));
  });

  it('removes a Persistent Chat pool (and with it its default contact) and decommissions a legacy pool', () => {
    const log = seededLog();
    log.accept({ type: 'RemovePersistentChatPool', fqdn: pcpool, reason: 'never used' });
    log.accept({ type: 'StopPool', fqdn: gc });
    log.accept({ type: 'DeleteSipPrincipal', sipAddress: ocschat, reason: 'retiring Group Chat' });
    log.accept({ type: 'DecommissionLegacyPool', fqdn: gc, reason: 'retired' });
    const topology = topologyOf(log);
    expect(topology.persistentChatPools).toEqual([]);
    expect(topology.legacyPools).toEqual([expect.objectContaining({ fqdn: 'gc.contoso.com', status: 'Decommissioned', dataMigratedTo: null })]);
    expect(topology).toEqual(expectedTopology('default', log.state(), log.events[log.events.length - 1]));
  });
});

describe('topology projection: time travel', () => {
  it('maps a moment to the last position recorded at or before it', () => {
    const log = seededLog();
    log.accept({ type: 'RegisterSipDomain', domain: fabrikam }, 'fabrikam');
    const reader = projectEvents(topologyProjection, log.events);
    expect(positionAsOf(reader, 'default', recordedAt(2))).toBe(2);
    expect(positionAsOf(reader, 'default', new Date(recordedAt(3).getTime() + 59_000))).toBe(3);
    // The last event of `default` is at 4; later events of other deployments do not move it.
    expect(positionAsOf(reader, 'default', recordedAt(100))).toBe(4);
    expect(positionAsOf(reader, 'default', recordedAt(0))).toBe(-1);
    expect(readTopology(reader, 'default', positionAsOf(reader, 'default', recordedAt(0)))).toEqual(
      expectedTopology('default', replay([], 'default', 0).state, undefined),
    );
    expect(positionOfMoment(reader, 'default', '3')).toBe(3);
    expect(positionOfMoment(reader, 'default', recordedAt(2).toISOString())).toBe(2);
    expect(positionOfMoment(reader, 'default', '2026-01-01T00:03:30+00:00')).toBe(3);
    expect(positionOfMoment(reader, 'default', 'yesterday')).toBeUndefined();
  });
});

describe('topology diff', () => {
  it('lists what the migration added, removed and changed, entity by entity', () => {
    const log = seededLog();
    const before = log.head;
    log.accept({ type: 'StopPool', fqdn: gc });
    log.accept({ type: 'DeleteSipPrincipal', sipAddress: ocschat, reason: 'migration step 4' });
    log.accept({ type: 'CreateEndpoint', sipAddress: ocschat, poolFqdn: pcpool });
    log.accept({ type: 'StartPool', fqdn: pcpool });
    log.accept({ type: 'RegisterSipDomain', domain: fabrikam, isDefault: true });
    const diff = diffTopologyBetween(projectEvents(topologyProjection, log.events), 'default', before, log.head);

    expect(diff.from).toEqual({ position: before, revision: 3 });
    expect(diff.to).toEqual({ position: log.head, revision: 8 });
    expect(diff.added.map(({ entity, key }) => [entity, key])).toEqual([
      ['sipDomain', 'fabrikam.com'],
      ['endpoint', 'sip:ocschat@contoso.com'],
    ]);
    expect(diff.removed).toEqual([
      {
        entity: 'principal',
        key: 'sip:ocschat@contoso.com',
        before: { sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: 'gc.contoso.com' },
      },
    ]);
    expect(diff.changed.map(({ entity, key, fields }) => [entity, key, fields])).toEqual([
      ['sipDomain', 'contoso.com', ['isDefault']],
      ['legacyPool', 'gc.contoso.com', ['status']],
      ['persistentChatPool', 'pcpool.contoso.com', ['status']],
    ]);
    expect(diff.changed[1]).toMatchObject({ before: { status: 'Started' }, after: { status: 'Stopped' } });
    // Derived figures are not entities of their own: they never show up as changes.
    expect(diff.changed[1]?.after).not.toHaveProperty('wellKnownUser');
    expect(diff.changed[2]?.after).not.toHaveProperty('endpointCount');
  });

  it('is empty between a moment and itself, and reversed when the moments are', () => {
    const log = seededLog();
    log.accept({ type: 'CreateEndpoint', sipAddress: persistentchat, poolFqdn: pcpool });
    const reader = projectEvents(topologyProjection, log.events);
    const same = diffTopologyBetween(reader, 'default', 3, 3);
    expect([same.added, same.removed, same.changed]).toEqual([[], [], []]);
    const forward = diffTopologyBetween(reader, 'default', 3, log.head);
    const backward = diffTopologyBetween(reader, 'default', log.head, 3);
    expect(backward.added.map((entry) => entry.key)).toEqual(forward.removed.map((entry) => entry.key));
    expect(backward.removed.map((entry) => entry.key)).toEqual(forward.added.map((entry) => entry.key));
    expect(forward.added.map(({ entity, key }) => `${entity} ${key}`)).toEqual([
      'persistentChatPool pcpool.contoso.com',
      'endpoint sip:persistentchat@contoso.com',
    ]);
  });
});

/** The (entity, key) pairs added, removed and changed between two domain states, computed from the domain's own records. */
function expectedDiff(before: TopologyState, after: TopologyState): { added: string[]; removed: string[]; changed: string[] } {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const compare = <V>(entity: string, was: ReadonlyMap<string, V>, is: ReadonlyMap<string, V>): void => {
    for (const [key, value] of was) {
      if (!is.has(key)) removed.push(`${entity} ${key}`);
      else if (JSON.stringify(value) !== JSON.stringify(is.get(key))) changed.push(`${entity} ${key}`);
    }
    for (const key of is.keys()) if (!was.has(key)) added.push(`${entity} ${key}`);
  };
  const domains = (state: TopologyState) => new Map([...state.sipDomains].map((domain) => [domain, domain === state.defaultSipDomain]));
  compare('sipDomain', domains(before), domains(after));
  compare('principal', before.principals, after.principals);
  compare('legacyPool', before.legacyPools, after.legacyPools);
  compare('persistentChatPool', before.persistentChatPools, after.persistentChatPools);
  compare('endpoint', before.endpoints, after.endpoints);
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

describe('topology projection against an independent replay of the domain', () => {
  it('at every position of random histories of two deployments, the as-of topology equals the domain fold up to there, and diffs list exactly what differs', () => {
    fc.assert(
      fc.property(twoDeploymentHistory, fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 5, maxLength: 5 }), (history, moments) => {
        const log = new Log();
        for (const { deployment, command } of history) log.run(command, deployment);
        const reader = projectEvents(topologyProjection, log.events);

        for (let position = 0; position <= log.head; position += 1) {
          for (const deployment of ['contoso', 'fabrikam']) {
            const { state, last } = replay(log.events, deployment, position);
            expect(readTopology(reader, deployment, position)).toEqual(expectedTopology(deployment, state, last));
          }
        }
        for (const deployment of ['contoso', 'fabrikam']) {
          expect(readTopology(reader, deployment)).toEqual(readTopology(reader, deployment, log.head));
        }

        for (const [fromPick, toPick] of moments) {
          const from = fromPick % (log.head + 1);
          const to = toPick % (log.head + 1);
          const diff = diffTopologyBetween(reader, 'contoso', from, to);
          const key = ({ entity, key: id }: { entity: string; key: string }) => `${entity} ${id}`;
          expect({
            added: diff.added.map(key).sort(),
            removed: diff.removed.map(key).sort(),
            changed: diff.changed.map(key).sort(),
          }).toEqual(expectedDiff(replay(log.events, 'contoso', from).state, replay(log.events, 'contoso', to).state));
          expect(diffTopology(readTopology(reader, 'contoso', from), readTopology(reader, 'contoso', to))).toEqual(diff);
        }
      }),
      { numRuns: 60 },
    );
  });
});
