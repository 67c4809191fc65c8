import fc from 'fast-check';
import { DomainError, MigrationPreconditionsFailed, MigrationStepOutOfOrder } from '../../src/domain/errors';
import {
  type MigratePool,
  type MigrationPlan,
  type MigrationState,
  type StepTopologyEvent,
  LAST_STEP,
  SimulatedSteps,
  compensateSteps,
  decideRollback,
  evolveMigration,
  runSteps as runMigrationSteps,
  approvalSubject,
  compensationOf,
  requireNextStep,
  requireRunnable,
  continuityOf,
  flattenedCategoryName,
  pendingCompensations,
  foldMigration,
  planMigration,
  rollbackConflicts,
  runbookOf,
  stepCmdlets,
  stepCommand,
} from '../../src/domain/migration';
import { type TopologyCommand, type TopologyEvent, type TopologyState, decide, foldTopology } from '../../src/domain/topology';
import { topologyCommand } from '../support/topology-commands';
import {
  endpointCreated,
  fqdn,
  persistentChatPoolInstalled,
  poolStarted,
  poolStopped,
  principalRegistered,
  seed,
  sip,
  sipDomainRegistered,
  snapshot,
} from './fixtures';
import { given } from './given';

const ID = '0b7e4f6c-4d1a-8f3e-9c2b-5a6d7e8f9a0b';
const migrate: MigratePool = { type: 'MigratePool', legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), reason: 'CHG-7' };

function plan(history: readonly TopologyEvent[] = seed, command: MigratePool = migrate): MigrationPlan {
  return planMigration(command, ID, foldTopology(history), null);
}

function refusedPreconditions(history: readonly TopologyEvent[], other: { migrationId: string; status: string } | null = null): string[] {
  try {
    planMigration(migrate, ID, foldTopology(history), other);
  } catch (error) {
    if (!(error instanceof MigrationPreconditionsFailed)) throw error;
    const preconditions = error.details['preconditions'] as { id: string; holds: boolean }[];
    return preconditions.filter((p) => !p.holds).map((p) => p.id);
  }
  throw new Error('the plan was not refused');
}

/** Runs steps 1..count of a plan with the migration's own step loop, on a simulated topology. */
async function runSteps(
  state: TopologyState,
  migrationPlan: MigrationPlan,
  count: number,
): Promise<{ state: TopologyState; migration: MigrationState; completed: ReadonlyMap<number, readonly StepTopologyEvent[]> }> {
  const port = new SimulatedSteps(state, 99, 0);
  const run = await runMigrationSteps(ID, foldMigration([{ type: 'MigrationPlanned', data: { plan: migrationPlan, deployment: 'default' } }]), count, port);
  return { state: await port.topology(), migration: run.state, completed: run.state.completed };
}

/** Rolls the migration back with the decider and its compensation loop, as RollbackMigration does. */
async function rollBack(state: TopologyState, migration: MigrationState): Promise<TopologyState> {
  const decision = decideRollback({ type: 'RollbackMigration', migrationId: ID, reason: 'rollback' }, migration, state, { fourEyes: false, dryRun: false, later: [] });
  if (decision.kind !== 'compensate') throw new Error('expected the rollback to start');
  const port = new SimulatedSteps(state, 0, 0);
  await compensateSteps(ID, decision.events.reduce(evolveMigration, migration), decision.terms, port);
  return port.topology();
}

describe('migration plan (preconditions of the seed scenario)', () => {
  it('R16: plans the seed migration as seven steps in the seed order, each step decided by the topology decider', () => {
    const p = plan();
    expect(p.steps.map((s) => s.key)).toEqual([
      'stopLegacyPool',
      'exportLegacyData',
      'importData',
      'deleteWellKnownUser',
      'createLegacyEndpoint',
      'startTargetPool',
      'verifyContinuity',
    ]);
    expect(p.steps.map((s) => s.events.map((e) => e.type))).toEqual([
      ['PoolStopped'],
      [],
      ['LegacyPoolDataImported'],
      ['SipPrincipalDeleted'],
      ['PersistentChatEndpointCreated'],
      ['PoolStarted'],
      [],
    ]);
    expect(p.steps.filter((s) => s.offlineWindow).map((s) => s.step)).toEqual([1, 2, 3, 4, 5]);
    expect(p.preconditions.every((c) => c.holds)).toBe(true);
    expect(p.wellKnownSipAddress).toBe('sip:ocschat@contoso.com');
  });

  it('R15: refuses when the legacy pool is not a started legacy Group Chat pool', () => {
    expect(refusedPreconditions([...seed, poolStopped('gc.contoso.com', 'legacyGroupChat')])).toContain('legacyPoolRunning');
    expect(refusedPreconditions([sipDomainRegistered('contoso.com'), persistentChatPoolInstalled('pcpool.contoso.com')])).toContain('legacyPoolRunning');
  });

  it('R14: refuses when the target pool is already serving', () => {
    expect(refusedPreconditions([...seed, poolStarted('pcpool.contoso.com')])).toEqual(['targetPoolInstalled', 'stepsAccepted']);
  });

  it('R18: one legacy pool migrates into one target pool', () => {
    const imported: TopologyEvent = { type: 'LegacyPoolDataImported', data: { legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'x.zip' } };
    expect(refusedPreconditions([...seed, imported])).toContain('oneIntoOne');
  });

  it('R1 and the one-forest prerequisite: a well-known SIP URI in another SIP domain than the target pool migrates', () => {
    // litwareinc.com was the default SIP domain when pcpool.contoso.com was installed; the legacy
    // pool's well-known user is sip:ocschat@contoso.com. One forest (one deployment): allowed.
    const domains = [sipDomainRegistered('litwareinc.com'), sipDomainRegistered('contoso.com', false)];
    const history = [
      ...domains,
      ...decideAll(foldTopology(domains), [
        { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
        { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com')] },
      ]),
    ];
    const state = foldTopology(history);
    expect(state.persistentChatPools.get(fqdn('pcpool.contoso.com'))?.defaultContactSipAddress).toMatch(/@litwareinc\.com$/);
    const plan = planMigration({ type: 'MigratePool', legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com') }, 'm-1', state, null);
    expect(plan.preconditions.find((p) => p.id === 'sameForest')).toMatchObject({ rule: 'R1', holds: true });
    const created = plan.steps.find((s) => s.key === 'createLegacyEndpoint')!.events[0]!;
    expect(created).toMatchObject({ type: 'PersistentChatEndpointCreated', data: { sipAddress: 'sip:ocschat@contoso.com', poolFqdn: 'pcpool.contoso.com' } });
  });

  it('R15, R3: refuses when no well-known user routes to the legacy pool and another object owns its URI', () => {
    const history = [
      ...seed,
      { type: 'SipPrincipalDeleted', data: { sipAddress: sip('sip:ocschat@contoso.com'), kind: 'wellKnownUser', displayName: null, legacyPoolFqdn: fqdn('gc.contoso.com'), reason: 'x' } },
      principalRegistered('sip:ocschat@contoso.com', 'contact', 'Someone'),
    ] as TopologyEvent[];
    expect(refusedPreconditions(history)).toEqual(expect.arrayContaining(['wellKnownUserRoutesToLegacyPool', 'sipAddressOwnedByWellKnownUserOnly', 'stepsAccepted']));
  });

  it('R20: a run meant to start at one step is refused when the migration is at another', () => {
    const state = foldMigration([{ type: 'MigrationPlanned', data: { plan: plan(seed), deployment: 'default' } }]);
    expect(() => requireNextStep('m', state, 1)).not.toThrow();
    expect(() => requireNextStep('m', state, undefined)).not.toThrow();
    expect(() => requireNextStep('m', state, 2)).toThrow(MigrationStepOutOfOrder);
  });

  it('R20: refuses while another migration of the legacy pool is open', () => {
    expect(refusedPreconditions(seed, { migrationId: 'other', status: 'Running' })).toEqual(['noOtherMigration']);
  });

  it('R16: refuses when a step would be refused on the way (the endpoint address is taken after the user goes)', () => {
    // The target pool is removed from under the plan's feet: only the simulation finds it out.
    const state = foldTopology(seed);
    const error = catchError(() => planMigration({ ...migrate, targetPoolFqdn: fqdn('gc.contoso.com') }, ID, state, null));
    expect(error).toBeInstanceOf(MigrationPreconditionsFailed);
    expect(error.message).toContain('legacy Group Chat pool, not a Persistent Chat pool');
  });

  it('R19, R18: lists what is not migrated, and the category names flattening changes or cuts', () => {
    const long = `Root/${'x'.repeat(300)}`;
    const p = plan(seed, { ...migrate, categories: ['Engineering', 'Engineering/Platform', long] });
    expect(p.notMigrated.map((i) => i.kind)).toEqual(['files', 'federation', 'rootCategoryManagers', 'flattenedCategory', 'truncatedCategory']);
    expect(p.notMigrated.find((i) => i.kind === 'flattenedCategory')?.migratedName).toBe('Engineering_Platform');
    expect(flattenedCategoryName(long)).toEqual({ name: `Root_${'x'.repeat(251)}`, truncated: true });
    expect(plan().notMigrated.map((i) => i.kind)).toContain('categoriesUnknown');
  });

  it('R20: the runbook has the real cmdlets of each step and its inverse, with placeholders where an instance is unknown', () => {
    const p = plan();
    const runbook = runbookOf(p);
    for (const cmdlet of [
      'Export-CsPersistentChatData -DBInstance',
      'Import-CsPersistentChatData -DBInstance',
      '-WhatIf',
      "Disable-CsUser -Identity 'sip:ocschat@contoso.com'",
      "New-CsPersistentChatEndpoint -SipAddress 'sip:ocschat@contoso.com' -PersistentChatPoolFqdn 'pcpool.contoso.com'",
      "# Remove-CsPersistentChatEndpoint -Identity 'sip:ocschat@contoso.com'",
      "Start-CsWindowsService -Name 'RTCCHAT' -ComputerName 'pc1.contoso.com'",
      "# Stop-CsWindowsService -Name 'RTCCHAT' -ComputerName 'pc2.contoso.com'",
    ]) {
      expect(runbook).toContain(cmdlet);
    }
    expect(runbook).toContain('<<LEGACY-SQL-INSTANCE>>');
    expect(p.placeholders.map((x) => x.name)).toContain('TARGET-SQL-INSTANCE');
    const known = plan(
      seed.map((e) => (e.type === 'LegacyGroupChatPoolDefined' ? { ...e, data: { ...e.data, databaseInstance: 'sql01.contoso.com\\rtc' } } : e)),
    );
    expect(stepCmdlets(known, 2).run[0]).toBe("Export-CsPersistentChatData -DBInstance 'sql01.contoso.com\\rtc' -FileName 'C:\\GroupChatMigration\\gc.contoso.com-0b7e4f6c.zip' -Level 'All'");
    expect(known.placeholders.map((x) => x.name)).not.toContain('LEGACY-SQL-INSTANCE');
  });
});

describe('migration steps and their compensations', () => {
  it('R14: the import needs the legacy pool Stopped (the offline window)', () => {
    given(...seed)
      .when({ type: 'ImportLegacyPoolData', legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'a.zip' })
      .thenThrows('POOL_STATE_INVALID', { rule: 'R14' });
  });

  it('R18: a legacy pool is imported once', () => {
    const imported: TopologyEvent = { type: 'LegacyPoolDataImported', data: { legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'a.zip' } };
    given(...seed, poolStopped('gc.contoso.com', 'legacyGroupChat'), imported)
      .when({ type: 'ImportLegacyPoolData', legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'a.zip' })
      .thenThrows('LEGACY_DATA_ALREADY_IMPORTED', { rule: 'R18' });
  });

  it('R18: a pool that holds one legacy pool\'s data takes no other\'s', () => {
    const imported: TopologyEvent = { type: 'LegacyPoolDataImported', data: { legacyPoolFqdn: fqdn('gc.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'a.zip' } };
    const gc2 = decideAll(foldTopology(seed), [
      { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc2.contoso.com'), version: 'OCS2007R2', wellKnownSipAddress: sip('sip:ocschat2@contoso.com') },
      { type: 'StopPool', fqdn: fqdn('gc2.contoso.com') },
    ]);
    given(...seed, imported, ...gc2)
      .when({ type: 'ImportLegacyPoolData', legacyPoolFqdn: fqdn('gc2.contoso.com'), targetPoolFqdn: fqdn('pcpool.contoso.com'), fileName: 'b.zip' })
      .thenThrows('TARGET_HOLDS_OTHER_LEGACY_DATA', { rule: 'R18', field: 'targetPoolFqdn' });
  });

  it('R20: there is no import to revert before one happened', () => {
    given(...seed).when({ type: 'RevertLegacyPoolDataImport', legacyPoolFqdn: fqdn('gc.contoso.com'), reason: 'x' }).thenThrows('LEGACY_DATA_NOT_IMPORTED', { rule: 'R20' });
  });

  it('R15: only the legacy pool\'s own well-known address can be restored', () => {
    given(...seed)
      .when({ type: 'RestoreWellKnownUser', sipAddress: sip('sip:other@contoso.com'), legacyPoolFqdn: fqdn('gc.contoso.com'), displayName: null })
      .thenThrows('WELL_KNOWN_ADDRESS_MISMATCH', { rule: 'R15' });
  });

  it('R3: a well-known user cannot be restored over a new owner of its address', async () => {
    const { state, completed } = await runSteps(foldTopology(seed), plan(), 5);
    const removed = foldTopology(decide({ type: 'RemoveEndpoint', identity: 'sip:ocschat@contoso.com', reason: 'x' }, state).events, state);
    const taken = foldTopology([principalRegistered('sip:ocschat@contoso.com', 'contact')], removed);
    const compensation = compensationOf(completed.get(4) ?? [], 'rollback');
    expect(compensation?.type).toBe('RestoreWellKnownUser');
    expect(() => decide(compensation!, taken)).toThrow(expect.objectContaining({ code: 'SIP_ADDRESS_IN_USE', rule: 'R3' }));
  });

  it('R14: a pool start is reverted to the status the pool had before', () => {
    given(...seed, poolStarted('pcpool.contoso.com'))
      .when({ type: 'RevertPoolStart', fqdn: fqdn('pcpool.contoso.com'), status: 'Installed' })
      .then([{ type: 'PoolStartReverted', data: { fqdn: fqdn('pcpool.contoso.com'), poolKind: 'persistentChat', status: 'Installed', previousStatus: 'Started' } }]);
  });

  it('R16: continuity holds before and after the offline window, and is reported inside it', async () => {
    const p = plan();
    const before = foldTopology(seed);
    expect(continuityOf(before, p, new Set())).toMatchObject({ window: 'before', holds: true, routesTo: 'gc.contoso.com' });
    const offline = await runSteps(before, p, 4);
    expect(continuityOf(offline.state, p, new Set(offline.completed.keys()))).toMatchObject({ window: 'offline', holds: false, owner: null });
    const done = await runSteps(before, p, 6);
    expect(continuityOf(done.state, p, new Set(done.completed.keys()))).toMatchObject({ window: 'after', holds: true, routesTo: 'pcpool.contoso.com' });
  });

  it('R20: later changes to the migration\'s pools or address are conflicts; its own events and unrelated changes are not', () => {
    const p = plan();
    const at = (event: TopologyEvent, migrationId: string | null, revision: number) => ({
      event,
      streamId: 'topology-default',
      revision,
      position: revision,
      migrationId,
      actor: 'alice',
      command: 'X',
      occurredAt: null,
    });
    const conflicts = rollbackConflicts(ID, p, [
      at(poolStopped('gc.contoso.com', 'legacyGroupChat'), ID, 5),
      at(endpointCreated('sip:chat2@contoso.com', 'pcpool.contoso.com'), null, 9),
      at(principalRegistered('sip:bob@contoso.com'), null, 10),
      at(endpointRemoved('sip:ocschat@contoso.com', 'pcpool.contoso.com'), 'another', 11),
    ]);
    expect(conflicts.map((c) => [c.revision, c.entity])).toEqual([
      [9, 'persistentChatPool:pcpool.contoso.com'],
      [11, 'endpoint:sip:ocschat@contoso.com'],
    ]);
  });

  it('R20: compensations run last step first, over the completed steps not yet compensated', () => {
    const state = foldMigration([
      { type: 'MigrationPlanned', data: { plan: plan(), deployment: 'default' } },
      { type: 'MigrationStepCompleted', data: { migrationId: ID, step: 1, key: 'stopLegacyPool', events: [], continuity: continuityOf(foldTopology(seed), plan(), new Set()), note: null } },
      { type: 'MigrationStepCompleted', data: { migrationId: ID, step: 2, key: 'exportLegacyData', events: [], continuity: continuityOf(foldTopology(seed), plan(), new Set()), note: null } },
      { type: 'MigrationRollbackStarted', data: { migrationId: ID, reason: 'x', force: false, conflicts: [] } },
      { type: 'MigrationStepCompensated', data: { migrationId: ID, step: 2, key: 'exportLegacyData', command: null, events: [] } },
    ]);
    expect(state.status).toBe('RollingBack');
    expect(pendingCompensations(state)).toEqual([1]);
  });
});

describe('four eyes (policy)', () => {
  const planned = (approvalRequired: boolean) => ({ type: 'MigrationPlanned' as const, data: { plan: plan(), deployment: 'default', approvalRequired } });

  it('a plan that needs approval does not run until another administrator approves it', () => {
    const waiting = foldMigration([planned(true)]);
    expect(() => requireRunnable(ID, waiting)).toThrow(expect.objectContaining({ code: 'APPROVAL_REQUIRED' }));
    expect(() => approvalSubject(ID, waiting, 'alice', 'alice')).toThrow(expect.objectContaining({ code: 'SELF_APPROVAL' }));
    expect(approvalSubject(ID, waiting, 'bob', 'alice')).toBe('plan');
    const approved = foldMigration([planned(true), { type: 'MigrationApproved', data: { migrationId: ID, subject: 'plan', reason: null } }]);
    expect(requireRunnable(ID, approved)).toBe(approved.plan);
    expect(() => approvalSubject(ID, approved, 'bob', 'alice')).toThrow(expect.objectContaining({ code: 'NOTHING_TO_APPROVE' }));
  });

  it('a rejected plan ends the migration; a rejected rollback request is withdrawn', () => {
    expect(foldMigration([planned(true), { type: 'MigrationRejected', data: { migrationId: ID, subject: 'plan', reason: 'no window' } }]).status).toBe('Rejected');
    const requested = foldMigration([
      planned(false),
      { type: 'MigrationRollbackRequested', data: { migrationId: ID, reason: 'x', force: false } },
    ]);
    expect(approvalSubject(ID, requested, 'bob', 'alice')).toBe('rollback');
    const withdrawn = foldMigration([
      planned(false),
      { type: 'MigrationRollbackRequested', data: { migrationId: ID, reason: 'x', force: false } },
      { type: 'MigrationRejected', data: { migrationId: ID, subject: 'rollback', reason: null } },
    ]);
    expect(withdrawn.rollbackRequest).toBeNull();
    expect(requireRunnable(ID, foldMigration([planned(false)]))).toBeTruthy();
  });
});

describe('migrate + rollback (property)', () => {
  const noise = fc.array(topologyCommand, { maxLength: 25 });

  it('R20: for random topologies and random points of failure, rollback restores the topology of before the migration', async () => {
    let migrations = 0;
    await fc.assert(
      fc.asyncProperty(noise, fc.integer({ min: 0, max: LAST_STEP }), async (commands, failAfter) => {
        const before = decideAll(foldTopology(seed), commands);
        const state = foldTopology(before, foldTopology(seed));
        let migrationPlan: MigrationPlan;
        try {
          migrationPlan = planMigration(migrate, ID, state, null);
        } catch (error) {
          if (error instanceof MigrationPreconditionsFailed) return; // not a migratable topology: nothing to check
          throw error;
        }
        migrations++;
        const { state: migrated, migration } = await runSteps(state, migrationPlan, failAfter);
        // The same topology, though what a rollback adds back comes after what stayed.
        expect(snapshot(await rollBack(migrated, migration), 'any')).toEqual(snapshot(state, 'any'));
      }),
      { numRuns: 300 },
    );
    // Most random topologies stay migratable: the property is not checked vacuously.
    expect(migrations).toBeGreaterThan(100);
  });
});

function endpointRemoved(address: string, poolFqdn: string): TopologyEvent {
  const created = endpointCreated(address, poolFqdn);
  if (created.type !== 'PersistentChatEndpointCreated') throw new Error('unexpected fixture');
  return { type: 'PersistentChatEndpointRemoved', data: { ...created.data, reason: 'x' } };
}

function decideAll(state: TopologyState, commands: readonly TopologyCommand[]): TopologyEvent[] {
  const events: TopologyEvent[] = [];
  for (const command of commands) {
    try {
      const decided = decide(command, state).events;
      state = foldTopology(decided, state);
      events.push(...decided);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }
  return events;
}

function catchError(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
