import {
  ApprovalRequired,
  DomainError,
  MigrationNotReversible,
  MigrationStateInvalid,
  MigrationStepFailed,
  RollbackConflict,
} from '../errors';
import type { TopologyCommand } from '../topology/commands';
import { decide } from '../topology/decide';
import type { TopologyEvent } from '../topology/events';
import { foldTopology } from '../topology/evolve';
import type { TopologyState } from '../topology/state';
import { LAST_STEP, type MigrationPlan, stepCommand, stepInfo } from './plan';
import {
  type ApproveChange,
  type FailMigrationStep,
  type LaterTopologyEvent,
  type MigrationEvent,
  type MigrationState,
  type RollbackMigration,
  type StepTopologyEvent,
  approvalSubject,
  compensationOf,
  continuityOf,
  evolveMigration,
  nextStep,
  pendingCompensations,
  requireRunnable,
  rollbackConflicts,
  stepNote,
} from './process';

/**
 * The migration's decider (R16–R20). Each command is decided on the migration's state and the
 * deployment's topology; a refusal is thrown as a DomainError, as the topology decider's are.
 * RunMigration and RollbackMigration go through their steps in one loop each (`runSteps`,
 * `compensateSteps`), driven through a `StepPort`: the application's port applies each step's
 * topology command for real and appends the migration's records; `SimulatedSteps` decides and
 * folds them in memory, for a dry run and for the specs. The loops do no I/O themselves: what is
 * read or written goes through the port.
 */

/** Whether a topology command runs a step or compensates it. */
export type StepPhase = 'run' | 'rollback';

/** What a step's topology command did: the events it appended (with where they landed), or the topology's refusal. */
export type StepOutcome = { readonly events: readonly StepTopologyEvent[] } | { readonly refusal: DomainError };

/** Where the steps' topology commands go and where the migration's records are kept. */
export interface StepPort {
  /** A dry run: a refused step says it would fail, and nothing is stored. */
  readonly dryRun: boolean;
  /** Applies a step's topology command (`run`) or its compensation (`rollback`) through the topology decider. */
  apply(command: TopologyCommand, step: number, phase: StepPhase): Promise<StepOutcome>;
  /** The deployment's topology as the commands applied so far leave it. */
  topology(): Promise<TopologyState>;
  /** Records the migration's own events, in one append. */
  record(events: readonly MigrationEvent[]): Promise<void>;
}

function evolveAll(state: MigrationState, events: readonly MigrationEvent[]): MigrationState {
  return events.reduce(evolveMigration, state);
}

// ---------------------------------------------------------------------------------------------
// Plan

/** MigratePool: the plan, recorded (four eyes: waiting for another administrator's approval). */
export function decidePlan(plan: MigrationPlan, deployment: string, fourEyes: boolean): MigrationEvent[] {
  return [{ type: 'MigrationPlanned', data: { plan, deployment, approvalRequired: fourEyes } }];
}

// ---------------------------------------------------------------------------------------------
// Run

/** The reason of a step that failed, as its record keeps it and as the refusal carries it. */
type StepFailure = ReturnType<DomainError['toJSON']>;

/**
 * What a step records once its topology command went (or was refused): the step completed, with the
 * events it appended and whether continuity holds (R16), and the migration completed after the last
 * step; or the step failed, when the topology refused it or when the last step finds continuity broken.
 */
export function decideStep(
  migrationId: string,
  plan: MigrationPlan,
  state: MigrationState,
  step: number,
  outcome: StepOutcome,
  topology: TopologyState,
): { readonly events: MigrationEvent[]; readonly failure: StepFailure | null } {
  const { key } = stepInfo(step);
  const continuity = continuityOf(topology, plan, new Set([...state.completed.keys(), step]));
  // R16: the last step checks that the well-known SIP URI reaches the pool that holds the data.
  const failed = (failure: StepFailure) => ({
    events: [{ type: 'MigrationStepFailed', data: { migrationId, step, key, reason: failure.message, error: { code: failure.code, message: failure.message } } }] as MigrationEvent[],
    failure,
  });
  if ('refusal' in outcome) return failed(outcome.refusal.toJSON());
  if (key === 'verifyContinuity' && !continuity.holds) {
    return failed({ code: 'CONTINUITY_BROKEN', message: `R16: ${continuity.message}.`, details: { rule: 'R16', continuity: { ...continuity } } });
  }
  const events: MigrationEvent[] = [
    { type: 'MigrationStepCompleted', data: { migrationId, step, key, events: [...outcome.events], continuity, note: stepNote(plan, step) } },
  ];
  if (step === LAST_STEP) events.push({ type: 'MigrationCompleted', data: { migrationId, continuity } });
  return { events, failure: null };
}

/**
 * RunMigration's steps: the next `count` of them, or until the migration completes. Each step's
 * topology command goes through the port, then the step's record; a refused step is recorded as
 * failed (a real run) and refuses the command (MigrationStepFailed).
 */
export async function runSteps(
  migrationId: string,
  initial: MigrationState,
  count: number,
  port: StepPort,
): Promise<{ readonly state: MigrationState; readonly steps: number[] }> {
  let state = initial;
  const steps: number[] = [];
  for (let remaining = count; remaining > 0 && state.status !== 'Completed'; remaining--) {
    const plan = requireRunnable(migrationId, state);
    const step = nextStep(state);
    if (step === null) break;
    const command = stepCommand(plan, step);
    const outcome: StepOutcome = command ? await port.apply(command, step, 'run') : { events: [] };
    const { events, failure } = decideStep(migrationId, plan, state, step, outcome, await port.topology());
    // R16: a step whose check fails (continuity included) fails the migration; a dry run only says it would.
    if (failure && port.dryRun) throw new MigrationStepFailed(migrationId, step, stepInfo(step).title, failure, 'dry run');
    await port.record(events);
    state = evolveAll(state, events);
    // R16: a failed step is reported, and the migration is Failed.
    if (failure) throw new MigrationStepFailed(migrationId, step, stepInfo(step).title, failure);
    steps.push(step);
  }
  return { state, steps };
}

// ---------------------------------------------------------------------------------------------
// Operator-reported failure and four eyes

/** FailMigrationStep: the next step failed outside the product; `step`, when given, must be that one. */
export function decideFailure(command: FailMigrationStep, state: MigrationState): MigrationEvent[] {
  const id = command.migrationId;
  requireRunnable(id, state, 'report a failed step of');
  const step = nextStep(state);
  // R20: only a migration under way has a step to fail.
  if (step === null) throw new MigrationStateInvalid(id, 'report a failed step of', 'finished', ['Planned', 'Running']);
  // R20: only the step under way can be reported failed.
  if (command.step !== undefined && command.step !== step) {
    throw new MigrationStateInvalid(id, `report step ${command.step} failed for`, `at step ${step}`, [`at step ${command.step}`]);
  }
  return [{ type: 'MigrationStepFailed', data: { migrationId: id, step, key: stepInfo(step).key, reason: command.reason, error: null } }];
}

/** ApproveChange: `approver` approves or rejects what waits, which `requester` asked for (not the same person). */
export function decideApproval(command: ApproveChange, state: MigrationState, approver: string, requester: string | null): MigrationEvent[] {
  const subject = approvalSubject(command.migrationId, state, approver, requester);
  const data = { migrationId: command.migrationId, subject, reason: command.reason ?? null };
  return [command.decision === 'approve' ? { type: 'MigrationApproved', data } : { type: 'MigrationRejected', data }];
}

// ---------------------------------------------------------------------------------------------
// Rollback

/** What RollbackMigration needs to know beyond the migration and the topology. */
export interface RollbackFacts {
  /** The four-eyes policy: a rollback waits for another administrator's approval. */
  readonly fourEyes: boolean;
  readonly dryRun: boolean;
  /** The topology's events since the migration's first step (R20's conflict check reads them before a rollback starts). */
  readonly later: readonly LaterTopologyEvent[];
}

/** The reason the compensations are recorded with, and whether they go past conflicts and refusals. */
export interface RollbackTerms {
  readonly reason: string;
  readonly force: boolean;
}

export type RollbackDecision =
  /** Four eyes: the rollback is asked for, and runs once approved. */
  | { readonly kind: 'request'; readonly events: MigrationEvent[] }
  /** The compensations run under `terms`, after `events` (the start, unless the rollback is already under way). */
  | { readonly kind: 'compensate'; readonly terms: RollbackTerms; readonly events: MigrationEvent[] };

/**
 * RollbackMigration, before its compensations. Refused once the migration is rolled back or rejected,
 * and once the legacy pool is decommissioned (after step 7 nothing brings it back). R20: a rollback
 * that would start is refused when later changes outside the migration touched what it changed,
 * unless forced, which records the conflicts it goes past. Under four eyes a rollback not approved
 * yet is asked for instead; an approved one runs with the terms it was approved with.
 */
export function decideRollback(command: RollbackMigration, state: MigrationState, topology: TopologyState, facts: RollbackFacts): RollbackDecision {
  const id = command.migrationId;
  const { plan } = state;
  // R20: only a migration not yet rolled back can be rolled back.
  if (!plan || state.status === 'RolledBack' || state.status === 'Rejected') {
    throw new MigrationStateInvalid(id, 'roll back', state.status, ['Planned', 'Running', 'Completed', 'Failed', 'RollingBack']);
  }
  // R20: after step 7 (the legacy pool decommissioned) there is no rollback.
  if (topology.legacyPools.get(plan.legacyPoolFqdn)?.status === 'Decommissioned') throw new MigrationNotReversible(id, plan.legacyPoolFqdn);
  const starting = state.status !== 'RollingBack';
  // R20: later changes to what the migration changed, checked once, when the rollback starts.
  const conflicts = starting ? rollbackConflicts(id, plan, facts.later) : [];
  const start = (terms: RollbackTerms): RollbackDecision => ({
    kind: 'compensate',
    terms,
    events: starting ? [{ type: 'MigrationRollbackStarted', data: { migrationId: id, ...terms, conflicts } }] : [],
  });

  if (facts.dryRun) {
    // A dry run shows the compensations under the command's own terms, whatever four eyes would ask first.
    // R20: a later change to what the migration changed is a conflict, unless forced.
    if (conflicts.length > 0 && command.force !== true) throw new RollbackConflict(id, conflicts);
    return start({ reason: state.rollback?.reason ?? command.reason, force: state.rollback?.force === true || command.force === true });
  }
  const request = state.rollbackRequest;
  const approved = request?.approval === 'approved';
  // A rollback under way keeps the terms it started with: its compensations are the same commands when resumed.
  const reason = state.rollback?.reason ?? (approved ? request.reason : command.reason);
  // Under four eyes only an approved request may force; otherwise the caller may, also to finish a rollback a refusal stopped.
  const force = state.rollback?.force === true || (facts.fourEyes ? approved && request.force : command.force === true);
  if (facts.fourEyes && !approved && (starting || (command.force === true && !force))) {
    if (request?.approval === 'pending') throw new ApprovalRequired(id, 'rollback');
    // R20: a later change to what the migration changed is a conflict, unless forced.
    if (conflicts.length > 0 && command.force !== true) throw new RollbackConflict(id, conflicts);
    return { kind: 'request', events: [{ type: 'MigrationRollbackRequested', data: { migrationId: id, reason: command.reason, force: command.force === true } }] };
  }
  // R20: a later change to what the migration changed is a conflict, unless forced.
  if (conflicts.length > 0 && !force) throw new RollbackConflict(id, conflicts);
  return start({ reason, force });
}

/**
 * What a compensation records: the step compensated (with the events that undid it, or none when the
 * step changed nothing), or, when the topology refused it, a conflict; a forced rollback records the
 * step as not compensated instead and goes on.
 */
export function decideCompensation(
  migrationId: string,
  step: number,
  compensation: TopologyCommand | null,
  outcome: StepOutcome,
  force: boolean,
): MigrationEvent {
  const { key } = stepInfo(step);
  if (compensation === null) return { type: 'MigrationStepCompensated', data: { migrationId, step, key, command: null, events: [] } };
  if ('events' in outcome) return { type: 'MigrationStepCompensated', data: { migrationId, step, key, command: compensation.type, events: [...outcome.events] } };
  const error = { code: outcome.refusal.code, message: outcome.refusal.message };
  // R20: a step that cannot be compensated is a conflict, unless forced.
  if (!force) throw new RollbackConflict(migrationId, [], error);
  return { type: 'MigrationStepNotCompensated', data: { migrationId, step, key, command: compensation.type, error } };
}

/**
 * RollbackMigration's compensations, last step first (R20), each recorded as it is applied, then the
 * migration rolled back with the continuity it leaves.
 */
export async function compensateSteps(
  migrationId: string,
  initial: MigrationState,
  terms: RollbackTerms,
  port: StepPort,
): Promise<{ readonly state: MigrationState; readonly steps: number[] }> {
  let state = initial;
  const plan = state.plan;
  // R20: a migration with no plan has nothing to roll back.
  if (!plan) throw new MigrationStateInvalid(migrationId, 'roll back', 'unknown', ['Planned', 'Running', 'Completed', 'Failed', 'RollingBack']);
  const compensated: number[] = [];
  for (const step of pendingCompensations(state)) {
    const compensation = compensationOf(state.completed.get(step) ?? [], `rollback of migration ${migrationId}: ${terms.reason}`);
    const outcome: StepOutcome = compensation ? await port.apply(compensation, step, 'rollback') : { events: [] };
    const record = decideCompensation(migrationId, step, compensation, outcome, terms.force);
    await port.record([record]);
    state = evolveMigration(state, record);
    if (record.type === 'MigrationStepCompensated') compensated.push(step);
  }
  const done: MigrationEvent = {
    type: 'MigrationRolledBack',
    data: {
      migrationId,
      compensated: [...state.compensated].sort((a, b) => b - a),
      notCompensated: [...state.notCompensated].sort((a, b) => b - a),
      continuity: continuityOf(await port.topology(), plan, new Set()),
    },
  };
  await port.record([done]);
  return { state: evolveMigration(state, done), steps: compensated };
}

// ---------------------------------------------------------------------------------------------
// The simulated port

/** An event a dry run would append: to the deployment's topology or to the migration's stream, at `revision`. */
export interface SimulatedEvent {
  readonly stream: 'topology' | 'migration';
  readonly type: string;
  readonly data: unknown;
  readonly revision: number;
}

/**
 * The port of a dry run: each topology command is decided on the topology as the ones before it
 * leave it, and folded in; every event is listed, in order, with the revision it would have.
 * Nothing leaves memory.
 */
export class SimulatedSteps implements StepPort {
  readonly dryRun = true;
  readonly events: SimulatedEvent[] = [];

  constructor(
    private state: TopologyState,
    private topologyRevision: number,
    private migrationRevision: number,
  ) {}

  async apply(command: TopologyCommand): Promise<StepOutcome> {
    let decided: TopologyEvent[];
    try {
      decided = decide(command, this.state).events;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return { refusal: error };
    }
    this.state = foldTopology(decided, this.state);
    return {
      events: decided.map((event) => {
        this.topologyRevision += 1;
        this.events.push({ stream: 'topology', type: event.type, data: event.data, revision: this.topologyRevision });
        return { ...event, revision: this.topologyRevision, position: 0 } as StepTopologyEvent;
      }),
    };
  }

  async topology(): Promise<TopologyState> {
    return this.state;
  }

  async record(events: readonly MigrationEvent[]): Promise<void> {
    for (const event of events) {
      this.migrationRevision += 1;
      this.events.push({ stream: 'migration', type: event.type, data: event.data, revision: this.migrationRevision });
    }
  }
}
