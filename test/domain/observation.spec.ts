import {
  adoptedResolutions,
  computeDrift,
  countsOf,
  coverageOf,
  decide,
  decideAdoption,
  decideObservation,
  DomainError,
  driftToAdopt,
  expectedSnapshot,
  foldObservations,
  foldTopology,
  initialState,
  type ObservationEvent,
  type Snapshot,
  type TopologyCommand,
  type TopologyState,
} from '../../src/domain';
import { fqdn, fqdns, sip } from './fixtures';

/** A ledger built by sending commands through the decider, as the product does. */
function ledger(...commands: TopologyCommand[]): TopologyState {
  return commands.reduce((state, command) => foldTopology(decide(command, state).events, state), initialState());
}

const contoso: TopologyCommand[] = [
  { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com', 'pc2.contoso.com') },
  { type: 'StartPool', fqdn: fqdn('pcpool.contoso.com') },
  { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
  { type: 'CreateEndpoint', sipAddress: sip('sip:chat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') },
];

/** What the collector would see of the contoso ledger, written out as a collector would. */
function observedContoso(): Snapshot {
  return {
    collectedAt: '2026-12-07T10:00:00.000Z',
    source: 'collector',
    sipDomains: [{ name: fqdn('contoso.com'), isDefault: true }],
    persistentChatPools: [
      { fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc2.contoso.com', 'pc1.contoso.com'), activeServers: fqdns('pc1.contoso.com', 'pc2.contoso.com'), poolState: 'Normal', status: 'Started' },
    ],
    legacyPools: [{ fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com'), status: 'Started' }],
    endpoints: [{ sipAddress: sip('sip:chat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), displayName: null }],
    principals: [{ sipAddress: sip('sip:ocschat@contoso.com'), kind: 'wellKnownUser', displayName: null }],
    principalLookups: [sip('sip:ocschat@contoso.com')],
  };
}

describe('drift between the ledger and an observation', () => {
  it('finds none when the deployment is what the ledger says (server order and unlisted principals aside)', () => {
    expect(computeDrift(ledger(...contoso), observedContoso())).toEqual([]);
  });

  it('finds none against the expected snapshot of any ledger', () => {
    const state = ledger(...contoso, { type: 'RegisterSipPrincipal', sipAddress: sip('sip:alice@contoso.com'), kind: 'user', displayName: 'Alice' });
    expect(computeDrift(state, expectedSnapshot(state, '2026-12-07T10:00:00.000Z'))).toEqual([]);
  });

  it('missing_in_ledger: an endpoint created in the Management Shell', () => {
    const observed = observedContoso();
    const snapshot: Snapshot = { ...observed, endpoints: [...observed.endpoints!, { sipAddress: sip('sip:new@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), displayName: 'New' }] };
    expect(computeDrift(ledger(...contoso), snapshot)).toEqual([
      { entity: 'endpoint:sip:new@contoso.com', kind: 'missing_in_ledger', ledger: null, observed: { sipAddress: 'sip:new@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'New' } },
    ]);
  });

  it('missing_in_deployment: an endpoint removed outside the ledger', () => {
    const snapshot: Snapshot = { ...observedContoso(), endpoints: [] };
    const [item, ...rest] = computeDrift(ledger(...contoso), snapshot);
    expect(rest).toEqual([]);
    expect(item).toEqual({ entity: 'endpoint:sip:chat@contoso.com', kind: 'missing_in_deployment', ledger: { sipAddress: 'sip:chat@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: null, distinguishedName: expect.stringMatching(/^CN=.*,CN=Application Contacts,/) }, observed: null });
  });

  it('differs: names the fields that differ, with both sides', () => {
    const observed = observedContoso();
    const snapshot: Snapshot = { ...observed, persistentChatPools: [{ ...observed.persistentChatPools![0]!, activeServers: fqdns('pc1.contoso.com'), poolState: 'FailedOver' }] };
    const [item] = computeDrift(ledger(...contoso), snapshot);
    expect(item).toMatchObject({ entity: 'persistentChatPool:pcpool.contoso.com', kind: 'differs', fields: ['activeServers', 'poolState'] });
    expect(item!.ledger).toMatchObject({ activeServers: ['pc1.contoso.com', 'pc2.contoso.com'], poolState: 'Normal' });
    expect(item!.observed).toMatchObject({ activeServers: ['pc1.contoso.com'], poolState: 'FailedOver' });
  });

  it('concludes nothing about what was not observed: absent sections, absent fields, principals nobody looked up', () => {
    const state = ledger(...contoso, { type: 'RegisterSipPrincipal', sipAddress: sip('sip:alice@contoso.com'), kind: 'user' });
    const snapshot: Snapshot = { collectedAt: null, source: 'topologyXml', persistentChatPools: [{ fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com', 'pc2.contoso.com') }] };
    expect(computeDrift(state, snapshot)).toEqual([]);
    expect(computeDrift(state, observedContoso())).toEqual([]);
  });
});

describe('recording observations', () => {
  const record = (snapshot: Snapshot, state: TopologyState, sha256: string, observationId: string, history: ObservationEvent[]) =>
    decideObservation(
      { observationId, sha256, source: snapshot.source, collectedAt: snapshot.collectedAt, counts: countsOf(snapshot), coverage: coverageOf(snapshot), drift: computeDrift(state, snapshot), ledgerRevision: 0 },
      foldObservations(history),
    );

  it('records the observation and one DriftDetected per item; the same document again records nothing', () => {
    const snapshot: Snapshot = { ...observedContoso(), endpoints: [] };
    const first = record(snapshot, ledger(...contoso), 'aa', 'obs-1', []);
    expect(first.map((e) => e.type)).toEqual(['ObservationRecorded', 'DriftDetected']);
    expect(record(snapshot, ledger(...contoso), 'aa', 'obs-1', first)).toEqual([]);
  });

  it('records drift still open with the same values once, and resolves drift a later observation no longer sees', () => {
    const drifting: Snapshot = { ...observedContoso(), endpoints: [] };
    const first = record(drifting, ledger(...contoso), 'aa', 'obs-1', []);
    const again = record({ ...drifting, collectedAt: '2026-12-07T11:00:00.000Z' }, ledger(...contoso), 'bb', 'obs-2', first);
    expect(again.map((e) => e.type)).toEqual(['ObservationRecorded']);
    const back = record(observedContoso(), ledger(...contoso), 'cc', 'obs-3', [...first, ...again]);
    expect(back.map((e) => e.type)).toEqual(['ObservationRecorded', 'DriftResolved']);
    expect(back[1]!.data).toEqual({ entity: 'endpoint:sip:chat@contoso.com', detectedBy: 'obs-1', resolution: 'gone', observationId: 'obs-3' });
  });

  it('leaves open the drift an observation does not cover (a topology document says nothing of endpoints)', () => {
    const first = record({ ...observedContoso(), endpoints: [] }, ledger(...contoso), 'aa', 'obs-1', []);
    const xml = record({ collectedAt: null, source: 'topologyXml', sipDomains: [{ name: fqdn('contoso.com'), isDefault: true }] }, ledger(...contoso), 'bb', 'obs-2', first);
    expect(xml.map((e) => e.type)).toEqual(['ObservationRecorded']);
  });
});

describe('adopting observed state, through the topology decider', () => {
  const adopt = (state: TopologyState, snapshot: Snapshot) => decideAdoption(state, computeDrift(state, snapshot), 'bootstrap from the collector');

  it('bootstraps an empty ledger: afterwards the ledger and the observation agree', () => {
    const snapshot: Snapshot = {
      ...observedContoso(),
      persistentChatPools: [{ fqdn: fqdn('pcpool.contoso.com'), servers: fqdns('pc1.contoso.com', 'pc2.contoso.com', 'pc3.contoso.com'), activeServers: fqdns('pc1.contoso.com'), poolState: 'FailedOver', status: 'Stopped' }],
      legacyPools: [{ fqdn: fqdn('gc.contoso.com'), version: 'OCS2007R2', wellKnownSipAddress: sip('sip:ocschat@contoso.com'), status: 'Stopped' }],
    };
    const adoption = adopt(initialState(), snapshot);
    expect(computeDrift(adoption.state, snapshot)).toEqual([]);
    expect(adoption.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['SipDomainRegistered', 'LegacyGroupChatPoolDefined', 'PersistentChatPoolInstalled', 'PersistentChatActiveServersChanged', 'PersistentChatStateChanged', 'PoolStopped', 'PersistentChatEndpointCreated']),
    );
  });

  it('adopts removals and changes made outside the ledger (R5: an endpoint on another pool is removed and created again)', () => {
    const state = ledger(...contoso, { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool2.contoso.com'), servers: fqdns('pc9.contoso.com') });
    const snapshot: Snapshot = {
      ...expectedSnapshot(state, '2026-12-07T10:00:00.000Z'),
      endpoints: [{ sipAddress: sip('sip:chat@contoso.com'), poolFqdn: fqdn('pcpool2.contoso.com'), displayName: null }],
    };
    const adoption = adopt(state, snapshot);
    expect(adoption.events.map((e) => e.type)).toEqual(['PersistentChatEndpointRemoved', 'PersistentChatEndpointCreated']);
    expect(computeDrift(adoption.state, snapshot)).toEqual([]);
  });

  function refusal(state: TopologyState, snapshot: Snapshot): DomainError {
    try {
      adopt(state, snapshot);
    } catch (error) {
      if (error instanceof DomainError) return error;
      throw error;
    }
    throw new Error('the adoption was not refused');
  }

  it('R3: refuses two owners of one SIP URI (a user and an endpoint), naming the rule and the entity', () => {
    const observed = observedContoso();
    const snapshot: Snapshot = {
      ...observed,
      endpoints: [...observed.endpoints!, { sipAddress: sip('sip:bob@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), displayName: null }],
      principals: [...observed.principals!, { sipAddress: sip('sip:bob@contoso.com'), kind: 'user', displayName: 'Bob' }],
    };
    const error = refusal(ledger(...contoso), snapshot);
    expect(error).toMatchObject({ code: 'SIP_ADDRESS_IN_USE', rule: 'R3' });
    expect(error.details).toMatchObject({ entity: 'endpoint:sip:bob@contoso.com', command: 'CreateEndpoint' });
    // The owner as observed: the user with its display name.
    expect(error.details).toMatchObject({ owner: { kind: 'user', sipAddress: 'sip:bob@contoso.com', displayName: 'Bob' } });
  });

  it('a snapshot without principals changes no principal: a legacy pool whose well-known user it cannot tell is refused (R3), naming the section', () => {
    // After a migration: the legacy pool's address is an endpoint; principals were not collected.
    const { principals: _p, principalLookups: _l, ...observed } = observedContoso();
    const snapshot: Snapshot = { ...observed, endpoints: [...observed.endpoints!, { sipAddress: sip('sip:ocschat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com'), displayName: null }] };
    const state = ledger(...contoso.filter((c) => c.type !== 'DefineLegacyGroupChatPool'));
    const items = computeDrift(state, snapshot);
    let error: unknown;
    try {
      decideAdoption(state, items, 'bootstrap from the collector', coverageOf(snapshot));
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'DRIFT_NOT_ADOPTABLE', rule: 'R3', details: { entity: 'legacyPool:gc.contoso.com', section: 'principals' } });
    expect((error as Error).message).toContain('principals');
  });

  it('R4: refuses an endpoint on a legacy Group Chat pool', () => {
    const observed = observedContoso();
    const snapshot: Snapshot = { ...observed, endpoints: [...observed.endpoints!, { sipAddress: sip('sip:old@contoso.com'), poolFqdn: fqdn('gc.contoso.com'), displayName: null }] };
    expect(refusal(ledger(...contoso), snapshot)).toMatchObject({ code: 'POOL_NOT_PERSISTENT_CHAT', rule: 'R4' });
  });

  it('R4: refuses an endpoint on a pool the deployment does not have', () => {
    const observed = observedContoso();
    const snapshot: Snapshot = { ...observed, endpoints: [{ sipAddress: sip('sip:x@contoso.com'), poolFqdn: fqdn('nopool.contoso.com'), displayName: null }] };
    expect(refusal(ledger(...contoso), snapshot)).toMatchObject({ code: 'POOL_NOT_FOUND', rule: 'R4' });
  });

  it('R10: refuses five active servers', () => {
    const five = fqdns('pc1.contoso.com', 'pc2.contoso.com', 'pc3.contoso.com', 'pc4.contoso.com', 'pc5.contoso.com');
    const snapshot: Snapshot = { ...observedContoso(), persistentChatPools: [{ fqdn: fqdn('pcpool.contoso.com'), servers: five, activeServers: five, status: 'Started' }] };
    const refused = refusal(ledger(...contoso), snapshot);
    expect(refused).toMatchObject({ code: 'TOO_MANY_ACTIVE_SERVERS', rule: 'R10', category: 'conflict', field: 'entities' });
    expect(refused.details).toMatchObject({ entity: 'persistentChatPool:pcpool.contoso.com', commandField: 'replace' });
  });

  it('R15: refuses a legacy pool whose version changed', () => {
    const snapshot: Snapshot = { ...observedContoso(), legacyPools: [{ fqdn: fqdn('gc.contoso.com'), version: 'OCS2007R2', wellKnownSipAddress: sip('sip:ocschat@contoso.com') }] };
    expect(refusal(ledger(...contoso), snapshot)).toMatchObject({ code: 'DRIFT_NOT_ADOPTABLE', rule: 'R15' });
  });

  it('takes only the open drift an observation covers, and only from the newest observation', () => {
    const state = ledger(...contoso);
    const snapshot: Snapshot = { ...observedContoso(), endpoints: [] };
    const events = decideObservation(
      { observationId: 'obs-1', sha256: 'aa', source: 'collector', collectedAt: null, counts: countsOf(snapshot), coverage: coverageOf(snapshot), drift: computeDrift(state, snapshot), ledgerRevision: 0 },
      foldObservations([]),
    );
    const observations = foldObservations(events);
    const items = driftToAdopt(observations, 'obs-1', 'default');
    expect(items.map((i) => i.item.entity)).toEqual(['endpoint:sip:chat@contoso.com']);
    expect(() => driftToAdopt(observations, 'obs-1', 'default', ['endpoint:sip:other@contoso.com'])).toThrow(expect.objectContaining({ code: 'DRIFT_NOT_OPEN' }));
    expect(() => driftToAdopt(observations, 'obs-9', 'default')).toThrow(expect.objectContaining({ code: 'OBSERVATION_NOT_FOUND' }));
    expect(adoptedResolutions(items, 'obs-1')[0]!.data).toMatchObject({ resolution: 'adopted', detectedBy: 'obs-1' });
  });
});
