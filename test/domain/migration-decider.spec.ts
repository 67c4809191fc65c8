import { DomainError, type RuleId } from '../../src/domain/errors';
import {
  type LaterTopologyEvent,
  type MigrationEvent,
  type MigrationState,
  type RollbackDecision,
  type RollbackFacts,
  type RollbackMigration,
  type StepPort,
  SimulatedSteps,
  compensateSteps,
  decideFailure,
  decideRollback,
  evolveMigration,
  foldMigration,
  planMigration,
  runSteps,
} from '../../src/domain/migration';
import { type TopologyEvent, type TopologyState, foldTopology } from '../../src/domain/topology';
import { endpointCreated, fqdn, poolStopped, principalRegistered, seed, sip } from './fixtures';

const ID = '5c2d8e1a-7b3f-4c6d-9e0a-1f2b3c4d5e6f';
const LEGACY = fqdn('gc.contoso.com');
const TARGET = fqdn('pcpool.contoso.com');
const planned: MigrationEvent = {
  type: 'MigrationPlanned',
  data: { plan: planMigration({ type: 'MigratePool', legacyPoolFqdn: LEGACY, targetPoolFqdn: TARGET, reason: 'CHG-7' }, ID, foldTopology(seed), null), deployment: 'default' },
};
const rollback = (extra: Partial<RollbackMigration> = {}): RollbackMigration => ({ type: 'RollbackMigration', migrationId: ID, reason: 'rooms missing', ...extra });

/** The topology event `event` appended later at `revision`, by `migrationId`'s steps or (null) by hand. */
function later(event: TopologyEvent, migrationId: string | null, revision: number, actor = 'alice'): LaterTopologyEvent {
  return { event, streamId: 'topology-default', revision, position: revision, migrationId, actor, command: 'X', occurredAt: '2026-12-07T22:00:00.000Z' };
}

/** The migration's records and the topology after its first `count` steps, run by the decider on a simulated topology. */
async function migrated(count: number, history: readonly TopologyEvent[] = seed): Promise<{ events: MigrationEvent[]; topology: TopologyEvent[] }> {
  const port = new SimulatedSteps(foldTopology(history), history.length - 1, 0);
  await runSteps(ID, foldMigration([planned]), count, port);
  const recorded = port.events.filter((e) => e.stream === 'migration').map((e) => ({ type: e.type, data: e.data }) as MigrationEvent);
  const appended = port.events.filter((e) => e.stream === 'topology').map((e) => ({ type: e.type, data: e.data }) as TopologyEvent);
  return { events: [planned, ...recorded], topology: [...history, ...appended] };
}

/**
 * A migration decider spec: `givenMigration(...history).onTopology(...events).when(command, facts)`,
 * then `.then(events)`, `.thenRequests(event)`, `.thenThrows(code, { rule })`.
 */
function givenMigration(...history: MigrationEvent[]) {
  const state = foldMigration(history);
  return {
    onTopology: (...topology: TopologyEvent[]) => ({
      when: (command: RollbackMigration, facts: Partial<RollbackFacts> = {}) =>
        new RollbackOutcome(state, foldTopology(topology), command, { fourEyes: false, dryRun: false, later: [], ...facts }),
    }),
  };
}

class RollbackOutcome {
  constructor(
    readonly state: MigrationState,
    readonly topology: TopologyState,
    readonly command: RollbackMigration,
    readonly facts: RollbackFacts,
  ) {}

  /** The compensations start after `expected`, under `terms`. */
  then(expected: MigrationEvent[], terms?: { reason: string; force: boolean }): RollbackDecision {
    const decision = decideRollback(this.command, this.state, this.topology, this.facts);
    expect(decision.kind).toBe('compensate');
    expect(decision.events).toEqual(expected);
    if (terms && decision.kind === 'compensate') expect(decision.terms).toEqual(terms);
    expect(JSON.parse(JSON.stringify(decision.events))).toEqual(decision.events);
    return decision;
  }

  /** Four eyes: the rollback is asked for, not started. */
  thenRequests(expected: MigrationEvent): void {
    const decision = decideRollback(this.command, this.state, this.topology, this.facts);
    expect(decision).toEqual({ kind: 'request', events: [expected] });
  }

  thenThrows(code: string, refusal: { rule?: RuleId } = {}): DomainError {
    let thrown: unknown;
    let decision: RollbackDecision | undefined;
    try {
      decision = decideRollback(this.command, this.state, this.topology, this.facts);
    } catch (error) {
      thrown = error;
    }
    if (decision) throw new Error(`expected the rollback to be refused, but it decided ${JSON.stringify(decision)}`);
    if (!(thrown instanceof DomainError)) throw thrown;
    expect(thrown.code).toBe(code);
    if (refusal.rule) {
      expect(thrown.rule).toBe(refusal.rule);
      expect(thrown.message).toContain(refusal.rule);
    }
    expect(JSON.parse(JSON.stringify(thrown.details))).toEqual(thrown.details);
    return thrown;
  }
}

describe('the migration decider: rollback (R20)', () => {
  const rogueEndpoint = endpointCreated('sip:chat2@contoso.com', 'pcpool.contoso.com');

  it('R20: a rollback is refused, naming each later change, when a change outside the migration touched what it changed', async () => {
    const { events, topology } = await migrated(3);
    const error = givenMigration(...events)
      .onTopology(...topology)
      .when(rollback(), { later: [later(poolStopped('gc.contoso.com', 'legacyGroupChat'), ID, 5), later(rogueEndpoint, null, 9, 'bob')] })
      .thenThrows('ROLLBACK_CONFLICT', { rule: 'R20' });
    expect(error.details['conflicts']).toEqual([
      { streamId: 'topology-default', revision: 9, position: 9, type: 'PersistentChatEndpointCreated', entity: 'persistentChatPool:pcpool.contoso.com', actor: 'bob', command: 'X', occurredAt: '2026-12-07T22:00:00.000Z' },
    ]);
    expect(error.message).toContain('PersistentChatEndpointCreated on persistentChatPool:pcpool.contoso.com by bob');
  });

  it('R20: forced, the rollback starts and records the conflicts it goes past', async () => {
    const { events, topology } = await migrated(3);
    givenMigration(...events)
      .onTopology(...topology)
      .when(rollback({ force: true }), { later: [later(rogueEndpoint, null, 9, 'bob')] })
      .then(
        [
          {
            type: 'MigrationRollbackStarted',
            data: {
              migrationId: ID,
              reason: 'rooms missing',
              force: true,
              conflicts: [expect.objectContaining({ revision: 9, entity: 'persistentChatPool:pcpool.contoso.com', actor: 'bob' })],
            },
          } as MigrationEvent,
        ],
        { reason: 'rooms missing', force: true },
      );
  });

  it('R20: the migration\'s own steps and changes to other objects are no conflict', async () => {
    const { events, topology } = await migrated(2);
    givenMigration(...events)
      .onTopology(...topology)
      .when(rollback(), { later: [later(poolStopped('gc.contoso.com', 'legacyGroupChat'), ID, 5), later(principalRegistered('sip:bob@contoso.com'), null, 6)] })
      .then([{ type: 'MigrationRollbackStarted', data: { migrationId: ID, reason: 'rooms missing', force: false, conflicts: [] } }]);
  });

  it('R20: a rollback under way is not checked again and keeps the terms it started with', async () => {
    const { events, topology } = await migrated(3);
    const started: MigrationEvent = { type: 'MigrationRollbackStarted', data: { migrationId: ID, reason: 'first', force: false, conflicts: [] } };
    givenMigration(...events, started)
      .onTopology(...topology)
      .when(rollback({ reason: 'second' }), { later: [later(rogueEndpoint, null, 9)] })
      .then([], { reason: 'first', force: false });
  });

  it('R20: once the legacy pool is decommissioned there is nothing to roll back to', async () => {
    const { events, topology } = await migrated(6);
    const decommissioned: TopologyEvent = { type: 'LegacyGroupChatPoolDecommissioned', data: { fqdn: LEGACY, reason: 'CHG-9' } } as TopologyEvent;
    givenMigration(...events).onTopology(...topology, decommissioned).when(rollback()).thenThrows('MIGRATION_NOT_REVERSIBLE', { rule: 'R20' });
  });

  it('R20: a migration rolled back or rejected is not rolled back again', async () => {
    const { events, topology } = await migrated(0);
    const rejected: MigrationEvent = { type: 'MigrationRejected', data: { migrationId: ID, subject: 'plan', reason: null } };
    givenMigration(...events, rejected).onTopology(...topology).when(rollback()).thenThrows('MIGRATION_STATE_INVALID', { rule: 'R20' });
  });

  it('four eyes: a rollback is asked for, after the conflict check, and runs with the terms it was approved with', async () => {
    const { events, topology } = await migrated(3);
    const given = givenMigration(...events).onTopology(...topology);
    given.when(rollback(), { fourEyes: true, later: [later(rogueEndpoint, null, 9)] }).thenThrows('ROLLBACK_CONFLICT', { rule: 'R20' });
    given
      .when(rollback({ force: true }), { fourEyes: true, later: [later(rogueEndpoint, null, 9)] })
      .thenRequests({ type: 'MigrationRollbackRequested', data: { migrationId: ID, reason: 'rooms missing', force: true } });

    const requested: MigrationEvent = { type: 'MigrationRollbackRequested', data: { migrationId: ID, reason: 'approved terms', force: true } };
    givenMigration(...events, requested).onTopology(...topology).when(rollback(), { fourEyes: true }).thenThrows('APPROVAL_REQUIRED');
    const approved: MigrationEvent = { type: 'MigrationApproved', data: { migrationId: ID, subject: 'rollback', reason: null } };
    givenMigration(...events, requested, approved)
      .onTopology(...topology)
      .when(rollback({ reason: 'other terms' }), { fourEyes: true, later: [later(rogueEndpoint, null, 9)] })
      .then([expect.objectContaining({ type: 'MigrationRollbackStarted', data: expect.objectContaining({ reason: 'approved terms', force: true }) }) as MigrationEvent], {
        reason: 'approved terms',
        force: true,
      });
  });

  it('a dry run shows the compensations under the command\'s own terms', async () => {
    const { events, topology } = await migrated(3);
    givenMigration(...events)
      .onTopology(...topology)
      .when(rollback({ force: true }), { fourEyes: true, dryRun: true, later: [later(rogueEndpoint, null, 9)] })
      .then([expect.objectContaining({ type: 'MigrationRollbackStarted' }) as MigrationEvent], { reason: 'rooms missing', force: true });
  });
});

describe('the migration decider: the step loops, on a simulated topology', () => {
  it('R16: a run records each step with what its command appended, and completes after step 7 with continuity', async () => {
    const port = new SimulatedSteps(foldTopology(seed), seed.length - 1, 0);
    const { state, steps } = await runSteps(ID, foldMigration([planned]), 7, port);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(state.status).toBe('Completed');
    expect(port.events.map((e) => `${e.stream}:${e.type}`)).toEqual([
      'topology:PoolStopped',
      'migration:MigrationStepCompleted',
      'migration:MigrationStepCompleted',
      'topology:LegacyPoolDataImported',
      'migration:MigrationStepCompleted',
      'topology:SipPrincipalDeleted',
      'migration:MigrationStepCompleted',
      'topology:PersistentChatEndpointCreated',
      'migration:MigrationStepCompleted',
      'topology:PoolStarted',
      'migration:MigrationStepCompleted',
      'migration:MigrationStepCompleted',
      'migration:MigrationCompleted',
    ]);
    expect(port.events.at(-1)).toMatchObject({ data: { continuity: { window: 'after', holds: true, routesTo: 'pcpool.contoso.com' } }, revision: 8 });
  });

  it('R16: a step the topology refuses fails the migration in a run, and only says it would fail in a dry run', async () => {
    // Someone deleted the well-known user by hand: step 4 has nothing to delete.
    const { events, topology } = await migrated(3);
    const rogue: TopologyEvent = { type: 'SipPrincipalDeleted', data: { sipAddress: sip('sip:ocschat@contoso.com'), kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: LEGACY, reason: 'by hand' } };
    const state = foldMigration(events);

    const dry = new SimulatedSteps(foldTopology([...topology, rogue]), 0, 0);
    await expect(runSteps(ID, state, 7, dry)).rejects.toMatchObject({ code: 'MIGRATION_STEP_FAILED', rule: 'R16', details: { step: 4, dryRun: true } });
    expect(dry.events).toEqual([]);

    const simulated = new SimulatedSteps(foldTopology([...topology, rogue]), 0, 0);
    const real: StepPort = { dryRun: false, apply: (c, s, p) => simulated.apply(c), topology: () => simulated.topology(), record: (e) => simulated.record(e) };
    const refused = runSteps(ID, state, 7, real);
    await expect(refused).rejects.toMatchObject({ code: 'MIGRATION_STEP_FAILED', details: { step: 4, cause: { code: expect.any(String) } } });
    expect(simulated.events).toEqual([expect.objectContaining({ stream: 'migration', type: 'MigrationStepFailed', data: expect.objectContaining({ step: 4, key: 'deleteWellKnownUser' }) })]);
    expect(foldMigration([...events, simulated.events[0] as unknown as MigrationEvent]).status).toBe('Failed');
  });

  it('R20: an operator reports the next step failed; another step is refused', async () => {
    const { events } = await migrated(2);
    const state = foldMigration(events);
    expect(decideFailure({ type: 'FailMigrationStep', migrationId: ID, reason: 'SQL timeout', step: 3 }, state)).toEqual([
      { type: 'MigrationStepFailed', data: { migrationId: ID, step: 3, key: 'importData', reason: 'SQL timeout', error: null } },
    ]);
    expect(() => decideFailure({ type: 'FailMigrationStep', migrationId: ID, reason: 'x', step: 5 }, state)).toThrow(expect.objectContaining({ code: 'MIGRATION_STATE_INVALID', rule: 'R20' }));
  });

  it('R20: compensations run last step first and leave the topology as it was before the migration', async () => {
    const { events, topology } = await migrated(6);
    const decision = decideRollback(rollback(), foldMigration(events), foldTopology(topology), { fourEyes: false, dryRun: false, later: [] });
    if (decision.kind !== 'compensate') throw new Error('expected the rollback to start');
    const port = new SimulatedSteps(foldTopology(topology), 0, 0);
    const started = decision.events.reduce(evolveMigration, foldMigration(events));
    const { state, steps } = await compensateSteps(ID, started, decision.terms, port);
    expect(steps).toEqual([6, 5, 4, 3, 2, 1]);
    expect(state.status).toBe('RolledBack');
    expect(await port.topology()).toEqual(foldTopology(seed));
    expect(port.events.filter((e) => e.stream === 'topology').map((e) => e.type)).toEqual([
      'PoolStartReverted',
      'PersistentChatEndpointRemoved',
      'SipPrincipalRegistered',
      'LegacyPoolDataImportReverted',
      'PoolStarted',
    ]);
    expect(port.events.at(-1)).toMatchObject({ type: 'MigrationRolledBack', data: { compensated: [6, 5, 4, 3, 2, 1], notCompensated: [], continuity: { window: 'before', holds: true } } });
  });

  it('R20: a compensation the topology refuses is a conflict, unless forced, which records the step as not compensated and goes on', async () => {
    const { events, topology } = await migrated(5);
    // Someone removed the migration's endpoint and gave its address to a contact: the well-known user cannot come back.
    const removed: TopologyEvent = { type: 'PersistentChatEndpointRemoved', data: { ...(endpointCreated('sip:ocschat@contoso.com', 'pcpool.contoso.com').data as object), reason: 'x' } } as TopologyEvent;
    const taken = [...topology, removed, principalRegistered('sip:ocschat@contoso.com', 'contact')];
    const state = foldMigration([...events, { type: 'MigrationRollbackStarted', data: { migrationId: ID, reason: 'x', force: false, conflicts: [] } }]);

    await expect(compensateSteps(ID, state, { reason: 'x', force: false }, new SimulatedSteps(foldTopology(taken), 0, 0))).rejects.toMatchObject({ code: 'ROLLBACK_CONFLICT', rule: 'R20' });

    const port = new SimulatedSteps(foldTopology(taken), 0, 0);
    const forced = await compensateSteps(ID, state, { reason: 'x', force: true }, port);
    expect([...forced.state.notCompensated]).toEqual([5, 4]);
    expect(forced.steps).toEqual([3, 2, 1]);
    expect(port.events.find((e) => e.type === 'MigrationStepNotCompensated' && (e.data as { step: number }).step === 4)).toMatchObject({
      data: { command: 'RestoreWellKnownUser', error: { code: 'SIP_ADDRESS_IN_USE' } },
    });
  });
});
