import {
  AUDIT_TABLE,
  auditRow,
  auditTrailProjection,
  canonicalTime,
  entityOf,
} from '../../projections/audit-trail/audit-trail.projection';
import { type AuditEntry, type AuditQuery, encodeAuditCursor, entityHistory, queryAudit } from '../../projections/audit-trail/audit-trail.query';
import type { TableReader } from '../../projections/runner/projection';
import { projectEvents, recorded } from '../../projections/runner/testing';
import { InvalidQuery } from '../../projections/query-errors';
import { auditMetadata, type CommandContext } from '../../src/application/audit';
import { refusalStreamId, topologyStreamId } from '../../src/application/streams';
import {
  DomainError,
  type TopologyCommand,
  type TopologyState,
  decide,
  foldTopology,
  initialState,
  parseFqdn,
  parseSipUri,
} from '../../src/domain';
import type { JsonObject, JsonValue, RecordedEvent } from '../../src/event-store/event-store';

const sip = (address: string) => parseSipUri(address, 'sipAddress');
const fqdn = (name: string) => parseFqdn(name, 'fqdn');

// ---------------------------------------------------------------------------------------------
// A history written the way the write side writes it: the domain decides, metadata from the context,
// refusals into the deployment's refusal stream.

interface Actor {
  readonly actor: string;
  readonly roles: readonly string[];
  readonly authenticated?: boolean;
  readonly reason?: string;
  readonly clientAddress?: string;
}

const STATUS_OF_CATEGORY = { invalid: 400, not_found: 404, conflict: 409 } as const;

class History {
  readonly events: RecordedEvent[] = [];
  private readonly states = new Map<string, TopologyState>();
  private clock = Date.UTC(2026, 2, 2, 9, 0, 0);
  private commands = 0;

  /** Each call is one command, a minute after the previous one. */
  private context(who: Actor): CommandContext {
    this.commands += 1;
    const commandId = `00000000-0000-4000-8000-${String(this.commands).padStart(12, '0')}`;
    this.clock += 60_000;
    return {
      actor: who.actor,
      roles: who.roles,
      authenticated: who.authenticated ?? true,
      commandId,
      correlationId: commandId,
      causationId: null,
      reason: who.reason ?? null,
      clientAddress: who.clientAddress ?? '10.0.0.7',
      occurredAt: new Date(this.clock).toISOString(),
    };
  }

  private append(streamId: string, type: string, data: JsonObject, metadata: JsonObject): void {
    const position = this.events.length + 1;
    // The store's own time lags the command's a little: the entry must show the command's.
    this.events.push(recorded(streamId, type, data, { position, metadata, created: new Date(this.clock + 250) }));
  }

  /** Runs a command through the domain; a refusal is recorded as the API records it. */
  run(deployment: string, who: Actor, command: TopologyCommand, input: JsonObject): void {
    const context = this.context(who);
    const state = this.states.get(deployment) ?? initialState();
    try {
      const decision = decide(command, state);
      const metadata = auditMetadata(context, { deployment, command: command.type, commandFingerprint: 'f'.repeat(32), warnings: [] });
      for (const event of decision.events) this.append(topologyStreamId(deployment), event.type, event.data as unknown as JsonObject, metadata);
      this.states.set(deployment, foldTopology(decision.events, state));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      this.refuse(deployment, command.type, input, STATUS_OF_CATEGORY[error.category], error.toJSON() as unknown as JsonObject, context);
    }
  }

  /** A refusal before the domain: bad input, or a role that may not. */
  refused(deployment: string, who: Actor, command: string, input: JsonValue, status: number, error: JsonObject): void {
    this.refuse(deployment, command, input, status, error, this.context(who));
  }

  private refuse(deployment: string, command: string, input: JsonValue, status: number, error: JsonObject, context: CommandContext): void {
    this.append(refusalStreamId(deployment), 'CommandRefused', { command, deployment, input, status, error }, auditMetadata(context, { deployment, command }));
  }

  foreign(streamId: string, type: string, data: JsonObject, metadata: JsonObject = {}): void {
    this.clock += 60_000;
    this.append(streamId, type, data, metadata);
  }
}

const alice: Actor = { actor: 'CONTOSO\\alice', roles: ['admin'] };
const bob: Actor = { actor: 'CONTOSO\\bob', roles: ['admin', 'operator'], clientAddress: '10.0.0.9' };
const carol: Actor = { actor: 'CONTOSO\\carol', roles: ['helpdesk'], authenticated: false };
const dave: Actor = { actor: 'FABRIKAM\\dave', roles: ['admin'] };

const ENDPOINT = 'sip:persistentchat@contoso.com';

function contosoScenario(): History {
  const h = new History();
  // Log positions 1 · 2–3 (the pool, then its well-known user) · 4
  h.run('contoso', alice, { type: 'RegisterSipDomain', domain: fqdn('contoso.com') }, { domain: 'contoso.com' });
  h.run(
    'contoso',
    alice,
    { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
    { fqdn: 'gc.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@contoso.com' },
  );
  h.run(
    'contoso',
    alice,
    { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com'), fqdn('pc2.contoso.com')] },
    { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com'] },
  );
  // 5 · 6 · 7
  h.run('contoso', bob, { type: 'AddPersistentChatServer', poolFqdn: fqdn('pcpool.contoso.com'), serverFqdn: fqdn('pc3.contoso.com') }, { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com' });
  h.run('contoso', bob, { type: 'StartPool', fqdn: fqdn('pcpool.contoso.com') }, { fqdn: 'pcpool.contoso.com' });
  h.run(
    'contoso',
    bob,
    { type: 'CreateEndpoint', sipAddress: sip(ENDPOINT), poolFqdn: fqdn('pcpool.contoso.com'), displayName: 'Persistent Chat' },
    { sipAddress: ENDPOINT, persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Persistent Chat' },
  );
  // 8: refused by the domain (R3), the caller's spelling in the input
  h.run(
    'contoso',
    bob,
    { type: 'CreateEndpoint', sipAddress: sip(ENDPOINT), poolFqdn: fqdn('pcpool.contoso.com') },
    { sipAddress: 'SIP:PersistentChat@Contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' },
  );
  // 9: refused at the edge: bad input
  h.refused('contoso', carol, 'CreateEndpoint', { sipAddress: 'persistentchat2@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' }, 400, {
    code: 'INVALID_SIP_ADDRESS',
    message: "sipAddress: it must start with the 'sip:' prefix",
    details: { field: 'sipAddress', rule: 'R1' },
  });
  // 10: a denied attempt
  h.refused('contoso', carol, 'RemoveEndpoint', { identity: ENDPOINT }, 403, { code: 'FORBIDDEN', message: 'helpdesk may not RemoveEndpoint', details: {} });
  // 11: refused: the pool already runs (the input does not say which kind of pool)
  h.run('contoso', bob, { type: 'StartPool', fqdn: fqdn('pcpool.contoso.com') }, { fqdn: 'pcpool.contoso.com' });
  // 12
  h.run('contoso', { ...alice, reason: 'CHG-1234 retire the endpoint' }, { type: 'RemoveEndpoint', identity: ENDPOINT, reason: 'CHG-1234 retire the endpoint' }, { identity: ENDPOINT, reason: 'CHG-1234 retire the endpoint' });
  // 13: another deployment in the same store
  h.run('fabrikam', dave, { type: 'RegisterSipDomain', domain: fqdn('fabrikam.com') }, { domain: 'fabrikam.com' });
  // 14: a stream of another kind, written without any of the audit metadata
  h.foreign('migration-3f2a', 'MigrationPlanned', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' });
  return h;
}

const history = contosoScenario();
const events = history.events;
const reader: TableReader = projectEvents(auditTrailProjection, events);

const positions = (entries: readonly AuditEntry[]): number[] => entries.map((e) => e.position);
const newestFirst = (selected: readonly RecordedEvent[]): number[] => selected.map((e) => e.position).sort((a, b) => b - a);
const query = (q: AuditQuery): AuditEntry[] => queryAudit(reader, { limit: 500, ...q }).entries;

function expectInvalid(run: () => unknown, field: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidQuery);
  const error = thrown as InvalidQuery;
  expect(error.code).toBe('INVALID_INPUT');
  expect(error.details).toMatchObject({ field, rule: 'schema' });
  expect(error.message).toContain(field);
}

// ---------------------------------------------------------------------------------------------

describe('entityOf', () => {
  it('names the topology entity each event changes', () => {
    expect(entityOf('SipDomainRegistered', { domain: 'contoso.com', isDefault: true, previousDefault: null })).toEqual({ kind: 'sipDomain', id: 'contoso.com' });
    expect(entityOf('DefaultSipDomainChanged', { domain: 'fabrikam.com', previousDefault: 'contoso.com' })).toEqual({ kind: 'sipDomain', id: 'fabrikam.com' });
    expect(entityOf('SipPrincipalRegistered', { sipAddress: 'sip:ocschat@contoso.com', kind: 'wellKnownUser' })).toEqual({ kind: 'principal', id: 'sip:ocschat@contoso.com' });
    expect(entityOf('LegacyGroupChatPoolDecommissioned', { fqdn: 'gc.contoso.com' })).toEqual({ kind: 'legacyPool', id: 'gc.contoso.com' });
    expect(entityOf('PersistentChatPoolInstalled', { fqdn: 'pcpool.contoso.com' })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(entityOf('PersistentChatStateChanged', { poolFqdn: 'pcpool.contoso.com', poolState: 'FailedOver' })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(entityOf('PersistentChatActiveServersChanged', { poolFqdn: 'pcpool.contoso.com' })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(entityOf('PersistentChatServerRemoved', { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'pc3.contoso.com', reason: 'x' })).toEqual({
      kind: 'server',
      id: 'pcpool.contoso.com/pc3.contoso.com',
    });
    expect(entityOf('PersistentChatEndpointRemoved', { sipAddress: ENDPOINT, poolFqdn: 'pcpool.contoso.com' })).toEqual({ kind: 'endpoint', id: ENDPOINT });
  });

  it('tells a started or stopped pool by its kind', () => {
    expect(entityOf('PoolStarted', { fqdn: 'gc.contoso.com', poolKind: 'legacyGroupChat', previousStatus: 'Stopped' })).toEqual({ kind: 'legacyPool', id: 'gc.contoso.com' });
    expect(entityOf('PoolStopped', { fqdn: 'pcpool.contoso.com', poolKind: 'persistentChat', previousStatus: 'Started' })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(entityOf('PoolStopped', { fqdn: 'x.contoso.com' })).toEqual({ kind: 'pool', id: 'x.contoso.com' });
  });

  it('derives a refused command’s entity from its input, normalised as the domain would store it', () => {
    const refused = (command: string, input: JsonValue) => entityOf('CommandRefused', { command, deployment: 'd', input, status: 409, error: { code: 'X', message: '', details: {} } });
    expect(refused('CreateEndpoint', { sipAddress: ' SIP:PersistentChat@Contoso.com ' })).toEqual({ kind: 'endpoint', id: ENDPOINT });
    expect(refused('RemoveEndpoint', { identity: ENDPOINT })).toEqual({ kind: 'endpoint', id: ENDPOINT });
    expect(refused('RegisterSipPrincipal', { sipAddress: 'sip:Alice@contoso.com', kind: 'user' })).toEqual({ kind: 'principal', id: 'sip:alice@contoso.com' });
    expect(refused('RemoveSipDomain', { domain: 'Fabrikam.com' })).toEqual({ kind: 'sipDomain', id: 'fabrikam.com' });
    expect(refused('InstallPersistentChatPool', { fqdn: 'PCPOOL.contoso.com', servers: [] })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(refused('DecommissionLegacyPool', { fqdn: 'gc.contoso.com' })).toEqual({ kind: 'legacyPool', id: 'gc.contoso.com' });
    expect(refused('SetPersistentChatState', { poolFqdn: 'pcpool.contoso.com', poolState: 'Normal' })).toEqual({ kind: 'persistentChatPool', id: 'pcpool.contoso.com' });
    expect(refused('AddPersistentChatServer', { poolFqdn: 'pcpool.contoso.com', serverFqdn: 'PC9.contoso.com' })).toEqual({ kind: 'server', id: 'pcpool.contoso.com/pc9.contoso.com' });
    expect(refused('StartPool', { fqdn: 'gc.contoso.com' })).toEqual({ kind: 'pool', id: 'gc.contoso.com' });
    expect(refused('MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' })).toEqual({ kind: 'legacyPool', id: 'gc.contoso.com' });
    expect(refused('RollbackMigration', { migrationId: '3F2A', reason: 'r' })).toEqual({ kind: 'migration', id: '3f2a' });
  });

  it('falls back to the usual fields for commands nobody knows, and gives up on input that names nothing', () => {
    const refused = (command: string, input: JsonValue) => entityOf('CommandRefused', { command, deployment: 'd', input, status: 404, error: {} });
    expect(refused('New-CsPersistentChatEndpoint', { sipAddress: ENDPOINT })).toEqual({ kind: null, id: ENDPOINT });
    expect(refused('Frobnicate', { fqdn: 'pcpool.contoso.com' })).toEqual({ kind: null, id: 'pcpool.contoso.com' });
    expect(refused('CreateEndpoint', { sipAddress: 42 })).toBeNull();
    expect(refused('CreateEndpoint', { sipAddress: '   ' })).toBeNull();
    expect(refused('CreateEndpoint', { sipAddress: `sip:${'a'.repeat(2000)}@contoso.com` })).toBeNull();
    expect(refused('CreateEndpoint', { truncated: true, bytes: 20000, start: '{"sipAddress":' })).toBeNull();
    expect(refused('CreateEndpoint', ['not', 'an', 'object'])).toBeNull();
    expect(refused('CreateEndpoint', null)).toBeNull();
    expect(entityOf('CommandRefused', {})).toBeNull();
  });

  it('names the drift item of a drift event, and the entity an adoption refused before any check names from its input', () => {
    const drift = { observationId: 'obs-1', entity: 'endpoint:sip:bob@contoso.com', kind: 'missing_in_ledger', ledger: null, observed: { poolFqdn: 'pcpool.contoso.com' } };
    const detected = auditRow(recorded('observation-acme', 'DriftDetected', drift));
    expect(detected).toMatchObject({ entity_kind: 'endpoint', entity_id: 'sip:bob@contoso.com' });
    expect(auditRow(recorded('observation-acme', 'DriftResolved', { observationId: 'obs-2', entity: 'principal:sip:ocschat@contoso.com', resolution: 'gone' }))).toMatchObject({ entity_kind: 'principal', entity_id: 'sip:ocschat@contoso.com' });
    // The observation itself is still the deployment's observation.
    expect(auditRow(recorded('observation-acme', 'ObservationRecorded', { observationId: 'obs-1' }))).toMatchObject({ entity_kind: 'observation', entity_id: 'acme' });
    for (const code of ['OBSERVATION_SUPERSEDED', 'REASON_REQUIRED', 'DRIFT_NOT_OPEN']) {
      const input = { observationId: 'obs-1', entities: ['endpoint:sip:Bob@Contoso.com'], reason: '' };
      const refused = auditRow(recorded('refused_command-acme', 'CommandRefused', { command: 'AdoptObservedState', deployment: 'acme', input, status: 409, error: { code, message: 'no', details: {} } }));
      expect(refused).toMatchObject({ outcome: 'refused', error_code: code, entity_kind: 'endpoint', entity_id: 'sip:bob@contoso.com' });
    }
  });

  it('does not trip over foreign or damaged data', () => {
    expect(entityOf('PersistentChatEndpointCreated', {})).toBeNull();
    expect(entityOf('PersistentChatServerAdded', { poolFqdn: 'pcpool.contoso.com' })).toBeNull();
    expect(entityOf('MigrationStepCompleted', { migrationId: 'M-1', step: 3 })).toEqual({ kind: 'migration', id: 'm-1' });
    expect(entityOf('SomethingElse', { nothing: 'here' })).toBeNull();
    expect(entityOf('toString', {})).toBeNull();
    expect(entityOf('__proto__', {})).toBeNull();
  });
});

describe('audit trail projection', () => {
  const all = query({});

  it('records every event of every stream, once, newest first', () => {
    expect(events).toHaveLength(14);
    expect(positions(all)).toEqual(newestFirst(events));
    expect(all.map((e) => `${e.streamId}@${e.revision}`)).toEqual(events.map((e) => `${e.streamId}@${e.revision}`).reverse());
  });

  it('keeps an accepted change with who, when, what, why and from where', () => {
    const created = all.find((e) => e.type === 'PersistentChatEndpointCreated');
    expect(created).toEqual({
      position: 7,
      deployment: 'contoso',
      streamId: 'topology-contoso',
      revision: 6,
      type: 'PersistentChatEndpointCreated',
      outcome: 'accepted',
      command: 'CreateEndpoint',
      commandId: '00000000-0000-4000-8000-000000000006',
      correlationId: '00000000-0000-4000-8000-000000000006',
      causationId: null,
      actor: 'CONTOSO\\bob',
      roles: ['admin', 'operator'],
      authenticated: true,
      reason: null,
      clientAddress: '10.0.0.9',
      occurredAt: '2026-03-02T09:06:00.000Z',
      // Recorded after the request: asOf reads the topology at this time.
      recordedAt: '2026-03-02T09:06:00.250Z',
      entity: { kind: 'endpoint', id: ENDPOINT },
      migrationId: null,
      data: events[6]?.data,
      metadata: events[6]?.metadata,
    });
    expect(created).not.toHaveProperty('error');
  });

  it('gives every event of a multi-event command the command’s metadata and its own entity', () => {
    const defined = all.filter((e) => e.command === 'DefineLegacyGroupChatPool').reverse();
    expect(defined.map((e) => [e.type, e.entity])).toEqual([
      ['LegacyGroupChatPoolDefined', { kind: 'legacyPool', id: 'gc.contoso.com' }],
      ['SipPrincipalRegistered', { kind: 'principal', id: 'sip:ocschat@contoso.com' }],
    ]);
    expect(new Set(defined.map((e) => e.commandId)).size).toBe(1);
  });

  it('keeps a refused command with its error, status and the entity its input named', () => {
    const refusal = all.find((e) => e.position === 8);
    expect(refusal).toMatchObject({
      deployment: 'contoso',
      streamId: 'refused_command-contoso',
      revision: 0,
      type: 'CommandRefused',
      outcome: 'refused',
      command: 'CreateEndpoint',
      actor: 'CONTOSO\\bob',
      entity: { kind: 'endpoint', id: ENDPOINT },
      error: { code: 'SIP_ADDRESS_IN_USE', status: 409, details: expect.objectContaining({ rule: 'R3', field: 'sipAddress' }) },
    });
    expect(refusal?.error?.message).toContain('R3');
    expect(refusal?.data['input']).toEqual({ sipAddress: 'SIP:PersistentChat@Contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });

    const denied = all.find((e) => e.position === 10);
    expect(denied).toMatchObject({ outcome: 'refused', actor: 'CONTOSO\\carol', authenticated: false, roles: ['helpdesk'], error: { code: 'FORBIDDEN', status: 403 } });
  });

  it('takes the reason from the caller, else the one the domain recorded', () => {
    const removed = all.find((e) => e.type === 'PersistentChatEndpointRemoved');
    expect(removed).toMatchObject({ reason: 'CHG-1234 retire the endpoint', actor: 'CONTOSO\\alice', data: { reason: 'CHG-1234 retire the endpoint' } });

    const row = auditRow(recorded('topology-x', 'SipDomainRemoved', { domain: 'x.com', wasDefault: false, reason: 'typo' }, { metadata: { actor: 'a' } }));
    expect(row['reason']).toBe('typo');
  });

  it('is tolerant of events written without the audit metadata', () => {
    const foreign = all.find((e) => e.streamId === 'migration-3f2a');
    expect(foreign).toEqual({
      position: 14,
      deployment: null,
      streamId: 'migration-3f2a',
      revision: 0,
      type: 'MigrationPlanned',
      outcome: 'accepted',
      command: null,
      commandId: null,
      correlationId: null,
      causationId: null,
      actor: null,
      roles: null,
      authenticated: null,
      reason: null,
      clientAddress: null,
      // No occurredAt in the metadata: the store's own time.
      occurredAt: '2026-03-02T09:13:00.250Z',
      recordedAt: '2026-03-02T09:13:00.250Z',
      entity: { kind: 'migration', id: '3f2a' },
      migrationId: null,
      data: { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' },
      metadata: {},
    });
  });

  it('is tolerant of metadata of the wrong types, and normalises times so they compare as text', () => {
    const row = auditRow(
      recorded('topology-old', 'SipDomainRegistered', { domain: 'old.com', isDefault: true, previousDefault: null }, {
        metadata: { actor: 7, roles: 'admin', authenticated: 'yes', occurredAt: '2026-03-02T10:00:00+01:00', commandId: null, migrationId: 'm-9' },
        created: new Date('2026-03-02T09:00:05.000Z'),
      }),
    );
    expect(row).toMatchObject({
      deployment: 'old',
      actor: null,
      roles: null,
      authenticated: null,
      command_id: null,
      occurred_at: '2026-03-02T09:00:00.000Z',
      migration_id: 'm-9',
      entity_kind: 'sipDomain',
      entity_id: 'old.com',
    });
    const unreadable = auditRow(recorded('topology-old', 'X', {}, { metadata: { occurredAt: 'last tuesday' }, created: new Date('2026-03-02T09:00:05.000Z') }));
    expect(unreadable['occurred_at']).toBe('2026-03-02T09:00:05.000Z');
    const noTime = auditRow(recorded('topology-old', 'X', {}, { created: new Date(NaN) }));
    expect(noTime['occurred_at']).toBeNull();
  });

  it('never throws, whatever an event holds', () => {
    const odd: RecordedEvent = {
      id: '00000000-0000-4000-8000-000000000000',
      streamId: 'refused_command-odd',
      revision: 0,
      position: 1,
      type: 'CommandRefused',
      data: { command: ['x'], input: 'text', status: 'bad', error: 'boom' },
      metadata: null as unknown as JsonObject,
      created: new Date(0),
    };
    const [change] = auditTrailProjection.project(odd, { get: () => undefined, find: () => [] });
    expect(change).toMatchObject({ kind: 'put', table: AUDIT_TABLE, row: { deployment: 'odd', outcome: 'refused', command: null, status: null, error_code: null, entity_id: null } });
  });

  it('encodes roles as JSON, whatever they hold', () => {
    const rolesOf = (roles: JsonValue) => auditRow(recorded('topology-r', 'X', {}, { metadata: { roles } }))['roles'];
    expect(rolesOf(['admin', 'operator'])).toBe('["admin","operator"]');
    expect(rolesOf(['admin', 'operator'])).toBe('["admin","operator"]');
    expect(rolesOf(['admin\u0000operator'])).toBe('["admin\\u0000operator"]');
    expect(rolesOf([])).toBe('[]');
    expect(rolesOf([''])).toBe('[""]');
    expect(rolesOf(['a"b', 'c\\d'])).toBe('["a\\"b","c\\\\d"]');
    expect(rolesOf(['admin', 3, null])).toBe('["admin",3,null]');
  });

  it('puts every declared column in every row', () => {
    const [spec] = auditTrailProjection.tables;
    const row = auditRow(events[0] as RecordedEvent);
    expect(Object.keys(row).sort()).toEqual([...(spec?.key ?? []), ...(spec?.columns ?? [])].sort());
    for (const index of spec?.indexes ?? []) expect(index[0]).toBe('deployment');
  });
});

describe('canonicalTime', () => {
  it('keeps the canonical form and converts others to it', () => {
    expect(canonicalTime('2026-03-02T09:00:00.000Z')).toBe('2026-03-02T09:00:00.000Z');
    expect(canonicalTime('2026-03-02T04:00:00-05:00')).toBe('2026-03-02T09:00:00.000Z');
    expect(canonicalTime('nonsense')).toBeNull();
    expect(canonicalTime(12)).toBeNull();
    expect(canonicalTime('+275760-09-13T00:00:00.000Z')).toBeNull();
  });
});

describe('queryAudit filters', () => {
  it('by deployment', () => {
    expect(positions(query({ deployment: 'fabrikam' }))).toEqual([13]);
    expect(positions(query({ deployment: 'Contoso' }))).toEqual(newestFirst(events.filter((e) => e.metadata['deployment'] === 'contoso')));
  });

  it('by actor, exactly', () => {
    expect(positions(query({ actor: 'CONTOSO\\carol' }))).toEqual([10, 9]);
    expect(query({ actor: 'carol' })).toEqual([]);
  });

  it('by entity: an address or FQDN in any spelling, or kind:id', () => {
    // Created, refused (R3), denied, removed; the bad-input refusal named another address.
    const endpointHistory = [12, 10, 8, 7];
    expect(positions(query({ entity: ENDPOINT }))).toEqual(endpointHistory);
    expect(positions(query({ entity: 'SIP:PersistentChat@Contoso.com' }))).toEqual(endpointHistory);
    expect(positions(query({ entity: 'endpoint:sip:persistentchat@contoso.com' }))).toEqual(endpointHistory);
    expect(query({ entity: 'principal:sip:persistentchat@contoso.com' })).toEqual([]);
    expect(positions(query({ entity: 'gc.contoso.com' }))).toEqual([2]);
    // The refused StartPool names a `pool`; the accepted one a `persistentChatPool`.
    expect(positions(query({ entity: 'pcpool.contoso.com' }))).toEqual([11, 6, 4]);
    expect(positions(query({ entity: 'persistentChatPool:pcpool.contoso.com' }))).toEqual([6, 4]);
    expect(positions(query({ entity: 'PersistentChatPool:PCPOOL.contoso.com' }))).toEqual([6, 4]);
    expect(positions(query({ entity: 'server:pcpool.contoso.com/pc3.contoso.com' }))).toEqual([5]);
    expect(positions(query({ entity: 'migration:3F2A' }))).toEqual([14]);
  });

  it('by command, accepted or refused', () => {
    expect(positions(query({ command: 'CreateEndpoint' }))).toEqual([9, 8, 7]);
    expect(positions(query({ command: 'CreateEndpoint', outcome: 'refused' }))).toEqual([9, 8]);
    expect(positions(query({ command: 'CreateEndpoint', outcome: 'accepted' }))).toEqual([7]);
    expect(positions(query({ outcome: 'REFUSED' }))).toEqual([11, 10, 9, 8]);
  });

  it('by time, both bounds inclusive, in any zone', () => {
    // Command n occurred at 09:00 + n minutes; the foreign event has only the store's time.
    expect(positions(query({ from: '2026-03-02T09:06:00.000Z', to: '2026-03-02T09:08:00Z' }))).toEqual([9, 8, 7]);
    expect(positions(query({ from: '2026-03-02T10:06:00+01:00', to: '2026-03-02T04:08:00-05:00' }))).toEqual([9, 8, 7]);
    expect(positions(query({ from: '2026-03-02T09:06:00.001Z', to: '2026-03-02T09:07:59.999Z' }))).toEqual([8]);
    expect(positions(query({ to: '2026-03-02T09:01:00Z' }))).toEqual([1]);
    expect(positions(query({ from: '2026-03-02T09:12:00Z' }))).toEqual([14, 13]);
    expect(query({ to: '2026-03-01' })).toEqual([]);
    expect(query({ from: '2026-03-02', to: '2026-03-02' })).toHaveLength(events.length);
  });

  it('combines filters', () => {
    expect(positions(query({ deployment: 'contoso', actor: 'CONTOSO\\bob', entity: ENDPOINT, from: '2026-03-02T09:07:00Z' }))).toEqual([8]);
    expect(query({ deployment: 'fabrikam', actor: 'CONTOSO\\bob' })).toEqual([]);
  });

  it('treats empty parameters as absent', () => {
    expect(query({ deployment: '', actor: ' ', entity: '', command: '', outcome: '', from: '', to: '', cursor: '' })).toHaveLength(events.length);
  });
});

describe('queryAudit paging', () => {
  it('walks every page newest first without gaps or duplicates', () => {
    for (const limit of [1, 2, 3, 4, 7, 14, 15]) {
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const page = queryAudit(reader, { limit, ...(cursor !== undefined ? { cursor } : {}) });
        expect(page.entries.length).toBeLessThanOrEqual(limit);
        seen.push(...positions(page.entries));
        pages += 1;
        if (page.nextCursor === null) break;
        expect(page.entries).toHaveLength(limit);
        cursor = page.nextCursor;
      }
      expect(seen).toEqual(newestFirst(events));
      expect(pages).toBe(Math.ceil(events.length / limit));
    }
  });

  it('pages within a filter, and a page appended meanwhile does not shift the next one', () => {
    const first = queryAudit(reader, { deployment: 'contoso', limit: '5' });
    expect(positions(first.entries)).toEqual([12, 11, 10, 9, 8]);
    const later = projectEvents(auditTrailProjection, [
      ...events,
      recorded('topology-contoso', 'SipDomainRegistered', { domain: 'contoso.net', isDefault: false, previousDefault: null }, { position: 15, metadata: { deployment: 'contoso' } }),
    ]);
    const second = queryAudit(later, { deployment: 'contoso', limit: '5', cursor: first.nextCursor ?? undefined });
    expect(positions(second.entries)).toEqual([7, 6, 5, 4, 3]);
    const third = queryAudit(later, { deployment: 'contoso', limit: 5, cursor: second.nextCursor ?? undefined });
    expect(positions(third.entries)).toEqual([2, 1]);
    expect(third.nextCursor).toBeNull();
  });

  it('defaults to 50 entries and an opaque cursor', () => {
    const page = queryAudit(reader);
    expect(page.entries).toHaveLength(events.length);
    expect(page.nextCursor).toBeNull();
    const cursor = queryAudit(reader, { limit: 2 }).nextCursor;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).toBe(encodeAuditCursor(13));
  });
});

describe('queryAudit validation', () => {
  it('refuses a bad limit, naming it', () => {
    for (const limit of [0, 501, -1, 2.5, NaN, 'abc', '10x', '1e3', '0']) expectInvalid(() => queryAudit(reader, { limit }), 'limit');
    expect(queryAudit(reader, { limit: '500' }).entries).toHaveLength(events.length);
  });

  it('refuses a bad time, naming the bound', () => {
    for (const time of ['yesterday', '2026-02-30', '2026-13-01', '2026-03-02T09:00:00', '2026-03-02T25:00:00Z', '1709370000000', '2026-03-02 09:00Z']) {
      expectInvalid(() => queryAudit(reader, { from: time }), 'from');
      expectInvalid(() => queryAudit(reader, { to: time }), 'to');
    }
    expectInvalid(() => queryAudit(reader, { from: '2026-03-03T00:00:00Z', to: '2026-03-02T00:00:00Z' }), 'to');
  });

  it('refuses a cursor it did not issue', () => {
    for (const cursor of ['zzz!', 'not a cursor', Buffer.from('p-1').toString('base64url'), Buffer.from('position 3').toString('base64url'), 'x'.repeat(100)]) {
      expectInvalid(() => queryAudit(reader, { cursor }), 'cursor');
    }
  });

  it('refuses an unknown outcome and an overlong filter', () => {
    expectInvalid(() => queryAudit(reader, { outcome: 'denied' }), 'outcome');
    expectInvalid(() => queryAudit(reader, { actor: 'a'.repeat(2000) }), 'actor');
    expectInvalid(() => queryAudit(reader, { entity: 'endpoint:' }), 'entity');
  });
});

describe('entityHistory', () => {
  it('tells an endpoint’s whole story, oldest first: created, refused twice, removed', () => {
    const story = entityHistory(reader, 'contoso', 'endpoint', ENDPOINT);
    expect(story.map((e) => [e.position, e.type, e.outcome, e.actor])).toEqual([
      [7, 'PersistentChatEndpointCreated', 'accepted', 'CONTOSO\\bob'],
      [8, 'CommandRefused', 'refused', 'CONTOSO\\bob'],
      [10, 'CommandRefused', 'refused', 'CONTOSO\\carol'],
      [12, 'PersistentChatEndpointRemoved', 'accepted', 'CONTOSO\\alice'],
    ]);
    expect(positions(entityHistory(reader, 'contoso', undefined, 'SIP:PersistentChat@contoso.com'))).toEqual([7, 8, 10, 12]);
    expect(positions(entityHistory(reader, 'contoso', undefined, 'endpoint:' + ENDPOINT))).toEqual([7, 8, 10, 12]);
  });

  it('includes a Persistent Chat pool’s servers, and the refusals that named it as a pool', () => {
    expect(positions(entityHistory(reader, 'contoso', 'persistentChatPool', 'pcpool.contoso.com'))).toEqual([4, 5, 6]);
    expect(positions(entityHistory(reader, 'contoso', undefined, 'pcpool.contoso.com'))).toEqual([4, 5, 6, 11]);
    expect(positions(entityHistory(reader, 'contoso', 'server', 'pcpool.contoso.com/pc3.contoso.com'))).toEqual([5]);
  });

  it('stays within its deployment', () => {
    expect(positions(entityHistory(reader, 'contoso', 'sipDomain', 'contoso.com'))).toEqual([1]);
    expect(entityHistory(reader, 'fabrikam', 'sipDomain', 'contoso.com')).toEqual([]);
    expect(positions(entityHistory(reader, 'fabrikam', 'sipDomain', 'fabrikam.com'))).toEqual([13]);
  });

  it('refuses an unknown kind or a missing id', () => {
    expectInvalid(() => entityHistory(reader, 'contoso', 'room', 'x'), 'kind');
    expectInvalid(() => entityHistory(reader, 'contoso', 'endpoint', ' '), 'entity');
    expectInvalid(() => entityHistory(reader, '', 'endpoint', ENDPOINT), 'deployment');
  });
});
