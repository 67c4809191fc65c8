import { Inject } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import {
  decide,
  DomainError,
  foldTopology,
  LAST_STEP,
  MIGRATION_STEPS,
  MigrationNotFound,
  MigrationNotReversible,
  MigrationStateInvalid,
  MigrationStepRefused,
  OPEN_STATUSES,
  ReasonRequired,
  RollbackConflict,
  compensationOf,
  continuityOf,
  evolveMigration,
  firstTopologyRevision,
  initialMigrationState,
  nextStep,
  pendingCompensations,
  planMigration,
  requireNextStep,
  requireRunnable,
  rollbackConflicts,
  runbookOf,
  stepCommand,
  stepInfo,
  stepNote,
  type FailMigrationStep,
  type MigratePool,
  type MigrationEvent,
  type MigrationPlan,
  type MigrationCommand,
  type MigrationCommandType,
  type MigrationState,
  type MigrationStatus,
  type ApproveChange,
  type RollbackMigration,
  ApprovalRequired,
  approvalSubject,
  type RunMigration,
  type StepTopologyEvent,
  type TopologyCommand,
  type TopologyEvent,
} from '../domain';
import {
  EVENT_STORE,
  EventStore,
  type ExpectedRevision,
  type JsonObject,
  type JsonValue,
  type RecordedEvent,
  StreamNotFound,
  WrongExpectedVersion,
} from '../event-store/event-store';
import { auditMetadata, CommandContext, commandFingerprint, uuidFromName } from './audit';
import { ConcurrencyConflict, IdempotencyKeyReused } from './errors';
import { ExecuteTopologyCommand, TopologyCommandResult } from './execute-topology-command';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { KeyedLock } from './keyed-lock';
import { requireConfiguredReason } from './reason-policy';
import { migrationStreamId, topologyStreamId } from './streams';
import { TopologyRepository } from './topology-repository';
import { toMigrationEvent, toTopologyEvent, withSchemaVersions } from '../domain/events';


/** A command on a migration (plan, run, report a failure, roll back), with who asks and why. */
export class ExecuteMigrationCommand {
  constructor(
    readonly deployment: string,
    readonly command: MigrationCommand,
    readonly context: CommandContext,
    readonly fingerprint: string,
    readonly whatIf: boolean,
  ) {}
}

type DescribedEvent = { type: string; data: JsonObject; streamId: string; revision: number };

export interface MigrationCommandResult {
  readonly commandId: string;
  readonly deployment: string;
  readonly migrationId: string;
  readonly status: MigrationStatus;
  /** Everything appended: the topology events of the steps and the migration's own events. */
  readonly events: DescribedEvent[];
  readonly position: number;
  readonly whatIf: boolean;
  readonly replayed: boolean;
  /** MigratePool: the plan and its runbook. */
  readonly plan?: MigrationPlan;
  readonly runbook?: string;
  /** RunMigration: the steps this command completed. RollbackMigration: the steps it compensated. */
  readonly steps?: number[];
  /** Four eyes: the plan or rollback is recorded and waits for ApproveChange by another administrator. */
  readonly approvalRequired?: boolean;
  readonly notCompensated?: number[];
}

interface LoadedMigration {
  readonly migrationId: string;
  readonly state: MigrationState;
  readonly revision: number;
  readonly events: readonly RecordedEvent[];
}

/** The reason the migration's plan was recorded with (MigratePool requires one). */
function plannedReason(loaded: LoadedMigration): string | null {
  const reason = loaded.events.find((e) => e.type === 'MigrationPlanned')?.metadata['reason'];
  return typeof reason === 'string' ? reason : null;
}

/** The migration id of the n-th migration of a legacy pool: attempts are numbered, so two plans of one pool race on one stream. */
export function migrationIdFor(deployment: string, legacyPoolFqdn: string, attempt: number): string {
  return uuidFromName(`migration/${deployment}/${legacyPoolFqdn}/${attempt}`);
}

/**
 * The migration process (R16–R20). A migration is its own stream, `migration-<id>`; each step is
 * applied through the topology decider as a command with an id derived from the migration and
 * the step, so a step reached twice (a retry, a restart after a crash) is stored once, and the
 * migration resumes at its first unfinished step. Rollback derives compensations from what the
 * steps recorded and appends them, last first.
 */
@CommandHandler(ExecuteMigrationCommand)
export class ExecuteMigrationCommandHandler implements ICommandHandler<ExecuteMigrationCommand, MigrationCommandResult> {
  // Per deployment: a plan checks the deployment's other migrations, and steps of one migration never interleave.
  private readonly lock = new KeyedLock();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly repository: TopologyRepository,
    private readonly commandBus: CommandBus,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  async execute(received: ExecuteMigrationCommand): Promise<MigrationCommandResult> {
    const { command } = received;
    if (command.type === 'MigratePool') return this.lock.run(received.deployment, () => this.plan(received, command));
    // A migration is addressed by its id, whatever deployment the request names: it belongs to the one it was planned in.
    const deployment = (await this.load(command.migrationId)).state.deployment ?? received.deployment;
    const request = new ExecuteMigrationCommand(deployment, command, received.context, received.fingerprint, received.whatIf);
    return this.lock.run(deployment, async () => {
      let loaded = await this.load(command.migrationId);
      const replay = this.replayOf(loaded, request);
      if (replay) return replay;
      requireConfiguredReason(this.config.reasonRequiredFor, command.type, request.context.reason);
      // A step whose topology change was stored but not its record (a crash between the two) is recorded first,
      // so that a failure report counts from the right step and a rollback undoes it.
      if (!request.whatIf && (command.type === 'FailMigrationStep' || command.type === 'RollbackMigration')) loaded = await this.reconcile(request, loaded);
      switch (command.type) {
        case 'RunMigration':
          return this.run(request, command, loaded);
        case 'FailMigrationStep':
          return this.fail(request, command, loaded);
        case 'RollbackMigration':
          return this.rollback(request, command, loaded);
        case 'ApproveChange':
          return this.approve(request, command, loaded);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Plan

  private async plan(request: ExecuteMigrationCommand, command: MigratePool): Promise<MigrationCommandResult> {
    const { deployment, context, whatIf } = request;
    if (!whatIf && !command.reason?.trim()) throw new ReasonRequired('MigratePool');
    const topology = await this.repository.load(deployment);
    let attempt = 1;
    let latest: LoadedMigration | null = null;
    for (; ; attempt++) {
      const found = await this.tryLoad(migrationIdFor(deployment, command.legacyPoolFqdn, attempt));
      if (!found) break;
      latest = found;
    }
    if (latest && !whatIf) {
      const replay = this.replayOf(latest, request);
      if (replay) return { ...replay, plan: latest.state.plan ?? undefined, runbook: latest.state.plan ? runbookOf(latest.state.plan) : undefined } as MigrationCommandResult;
    }
    requireConfiguredReason(this.config.reasonRequiredFor, command.type, context.reason);
    const migrationId = migrationIdFor(deployment, command.legacyPoolFqdn, attempt);
    const other = latest && OPEN_STATUSES.includes(latest.state.status) ? { migrationId: latest.migrationId, status: latest.state.status } : null;
    const plan = planMigration(command, migrationId, topology.state, other);
    const planned: MigrationEvent = { type: 'MigrationPlanned', data: { plan, deployment, approvalRequired: this.config.fourEyes } };
    const base = { commandId: context.commandId, deployment, migrationId, plan, runbook: runbookOf(plan), replayed: false } as const;
    if (whatIf) {
      return { ...base, status: 'Planned', events: [{ ...(planned as unknown as { type: string; data: JsonObject }), streamId: migrationStreamId(migrationId), revision: 0 }], position: 0, whatIf: true };
    }
    let appended: { events: DescribedEvent[]; position: number };
    try {
      appended = await this.append(migrationId, -1, [[`planned/${context.commandId}`, planned]], request, 'MigratePool');
    } catch (error) {
      // Another process planned this pool's next migration first: plan again, against it.
      if (error instanceof WrongExpectedVersion) return this.plan(request, command);
      throw error;
    }
    return { ...base, status: 'Planned', events: appended.events, position: appended.position, whatIf: false, ...(this.config.fourEyes ? { approvalRequired: true } : {}) };
  }

  // -------------------------------------------------------------------------------------------
  // Run

  private async run(request: ExecuteMigrationCommand, command: RunMigration, first: LoadedMigration): Promise<MigrationCommandResult> {
    const id = command.migrationId;
    const events: DescribedEvent[] = [];
    const stepsRun: number[] = [];
    let position = 0;
    let loaded = first;
    requireRunnable(id, loaded.state);
    requireNextStep(id, loaded.state, command.fromStep);
    // The steps' changes are recorded with the migration's reason unless the run gives its own.
    const context: CommandContext = { ...request.context, reason: request.context.reason ?? plannedReason(loaded) };
    if (request.whatIf) return this.preview(request, loaded, command.steps ?? LAST_STEP);
    for (let remaining = command.steps ?? LAST_STEP; remaining > 0 && loaded.state.status !== 'Completed'; remaining--) {
      const plan = requireRunnable(id, loaded.state);
      const deployment = loaded.state.deployment ?? request.deployment;
      const step = nextStep(loaded.state);
      if (step === null) break;
      const info = stepInfo(step);
      let stepEvents: StepTopologyEvent[] = [];
      let failure: { code: string; message: string; details: Record<string, JsonValue> } | null = null;
      const topologyCommand = stepCommand(plan, step);
      if (topologyCommand) {
        try {
          const result = await this.applyTopologyCommand(deployment, topologyCommand, context, id, step, 'run');
          stepEvents = result.events.map((e) => ({ ...(e as unknown as TopologyEvent), revision: e.revision, position: result.position }) as StepTopologyEvent);
          events.push(...result.events);
          position = Math.max(position, result.position);
        } catch (error) {
          // Only the topology's refusal fails a step; a lost race or a reused key is the caller's to retry.
          if (!(error instanceof DomainError) || error instanceof ConcurrencyConflict || error instanceof IdempotencyKeyReused) throw error;
          failure = error.toJSON() as { code: string; message: string; details: Record<string, JsonValue> };
        }
      }
      const topology = (await this.repository.load(deployment)).state;
      const continuity = continuityOf(topology, plan, new Set([...loaded.state.completed.keys(), step]));
      if (failure === null && info.key === 'verifyContinuity' && !continuity.holds) {
        failure = { code: 'CONTINUITY_BROKEN', message: `R16: ${continuity.message}.`, details: { rule: 'R16', continuity: continuity as unknown as JsonObject } };
      }
      if (failure) {
        const failed: MigrationEvent = {
          type: 'MigrationStepFailed',
          data: { migrationId: id, step, key: info.key, reason: failure.message, error: { code: failure.code, message: failure.message } },
        };
        await this.append(id, loaded.revision, [[`step/${step}/failed`, failed]], request, 'RunMigration', step);
        throw new MigrationStepRefused(id, step, info.title, failure as { code: string; message: string; details: Record<string, never> });
      }
      const toAppend: [string, MigrationEvent][] = [
        [`step/${step}/completed`, { type: 'MigrationStepCompleted', data: { migrationId: id, step, key: info.key, events: stepEvents, continuity, note: stepNote(plan, step) } }],
      ];
      if (step === LAST_STEP) toAppend.push(['completed', { type: 'MigrationCompleted', data: { migrationId: id, continuity } }]);
      const appended = await this.append(id, loaded.revision, toAppend, request, 'RunMigration', step);
      events.push(...appended.events);
      position = Math.max(position, appended.position);
      stepsRun.push(step);
      loaded = await this.load(id);
    }
    return this.result(request, loaded, events, position, { steps: stepsRun });
  }

  /**
   * `whatIf` on RunMigration: every event the next steps would append, nothing appended. Each step goes
   * through the topology's decider against the topology as the steps before it leave it (simulated in
   * memory, as MigratePool's plan does), followed by the migration's own records. A step that would
   * fail is refused as a run would refuse it, saying nothing was changed.
   */
  private async preview(request: ExecuteMigrationCommand, loaded: LoadedMigration, count: number): Promise<MigrationCommandResult> {
    const id = loaded.migrationId;
    const plan = requireRunnable(id, loaded.state);
    const simulation = await this.simulation(request, loaded);
    const completed = new Set(loaded.state.completed.keys());
    const steps: number[] = [];
    for (let step = nextStep(loaded.state); step !== null && step <= LAST_STEP && steps.length < count; step++) {
      const info = stepInfo(step);
      const topologyCommand = stepCommand(plan, step);
      let stepEvents: StepTopologyEvent[] = [];
      if (topologyCommand) {
        try {
          stepEvents = simulation.apply(topologyCommand);
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          throw new MigrationStepRefused(id, step, info.title, error.toJSON(), 'dry run');
        }
      }
      completed.add(step);
      const continuity = continuityOf(simulation.topology, plan, completed);
      if (info.key === 'verifyContinuity' && !continuity.holds) {
        throw new MigrationStepRefused(id, step, info.title, { code: 'CONTINUITY_BROKEN', message: `R16: ${continuity.message}.`, details: { rule: 'R16' } }, 'dry run');
      }
      simulation.record({ type: 'MigrationStepCompleted', data: { migrationId: id, step, key: info.key, events: stepEvents, continuity, note: stepNote(plan, step) } });
      if (step === LAST_STEP) simulation.record({ type: 'MigrationCompleted', data: { migrationId: id, continuity } });
      steps.push(step);
    }
    return this.result(request, loaded, simulation.events, 0, { steps, whatIf: true });
  }

  /**
   * The deployment's topology and the migration's stream as a dry run changes them, in memory: the
   * topology commands a run or a rollback would issue are decided in order, each on what the ones
   * before it left, and every event is listed with the stream and revision it would have.
   */
  private async simulation(request: ExecuteMigrationCommand, loaded: LoadedMigration) {
    const topology = await this.repository.load(loaded.state.deployment ?? request.deployment);
    const migrationStream = migrationStreamId(loaded.migrationId);
    let state = topology.state;
    let topologyRevision = topology.revision;
    let migrationRevision = loaded.revision;
    const events: DescribedEvent[] = [];
    return {
      events,
      get topology() {
        return state;
      },
      /** Decides `command` on the simulated topology (a refusal throws) and applies its events. */
      apply(command: TopologyCommand): StepTopologyEvent[] {
        const decided = decide(command, state).events;
        state = foldTopology(decided, state);
        return decided.map((event) => {
          topologyRevision += 1;
          events.push(describe({ ...event, streamId: topology.streamId, revision: topologyRevision }));
          return { ...event, revision: topologyRevision, position: 0 } as StepTopologyEvent;
        });
      },
      record(event: MigrationEvent): void {
        migrationRevision += 1;
        events.push(describe({ ...event, streamId: migrationStream, revision: migrationRevision }));
      },
    };
  }

  /**
   * `whatIf` on RollbackMigration: the compensations, last step first, as the rollback would append
   * them (simulated like `preview`), with the migration's records; nothing appended. A compensation the
   * topology refuses is a conflict unless `force`, which records the step as not compensated instead.
   */
  private async previewRollback(
    request: ExecuteMigrationCommand,
    loaded: LoadedMigration,
    command: RollbackMigration,
    conflicts: ReturnType<typeof rollbackConflicts>,
  ): Promise<MigrationCommandResult> {
    const id = command.migrationId;
    const { state } = loaded;
    const reason = state.rollback?.reason ?? command.reason;
    const force = state.rollback?.force === true || command.force === true;
    const simulation = await this.simulation(request, loaded);
    if (state.status !== 'RollingBack') simulation.record({ type: 'MigrationRollbackStarted', data: { migrationId: id, reason, force, conflicts } });
    const compensated = new Set(state.compensated);
    const notCompensated = new Set(state.notCompensated);
    for (const step of pendingCompensations(state)) {
      const info = stepInfo(step);
      const compensation = compensationOf(state.completed.get(step) ?? [], `rollback of migration ${id}: ${reason}`);
      if (compensation === null) {
        simulation.record({ type: 'MigrationStepCompensated', data: { migrationId: id, step, key: info.key, command: null, events: [] } });
        compensated.add(step);
        continue;
      }
      try {
        const events = simulation.apply(compensation);
        simulation.record({ type: 'MigrationStepCompensated', data: { migrationId: id, step, key: info.key, command: compensation.type, events } });
        compensated.add(step);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        if (!force) throw new RollbackConflict(id, [], { code: error.code, message: error.message });
        simulation.record({ type: 'MigrationStepNotCompensated', data: { migrationId: id, step, key: info.key, command: compensation.type, error: { code: error.code, message: error.message } } });
        notCompensated.add(step);
      }
    }
    const plan = state.plan!;
    simulation.record({
      type: 'MigrationRolledBack',
      data: {
        migrationId: id,
        compensated: [...compensated].sort((a, b) => b - a),
        notCompensated: [...notCompensated].sort((a, b) => b - a),
        continuity: continuityOf(simulation.topology, plan, new Set()),
      },
    });
    return this.result(request, loaded, simulation.events, 0, {
      steps: pendingCompensations(state).filter((step) => compensated.has(step)),
      notCompensated: [...notCompensated],
      whatIf: true,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Operator-reported failure

  private async fail(request: ExecuteMigrationCommand, command: FailMigrationStep, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    const id = command.migrationId;
    requireRunnable(id, loaded.state, 'report a failed step of');
    const step = nextStep(loaded.state);
    if (step === null) throw new MigrationStateInvalid(id, 'report a failed step of', 'finished', ['Planned', 'Running']);
    if (command.step !== undefined && command.step !== step) {
      throw new MigrationStateInvalid(id, `report step ${command.step} failed for`, `at step ${step}`, [`at step ${command.step}`]);
    }
    const failed: MigrationEvent = {
      type: 'MigrationStepFailed',
      data: { migrationId: id, step, key: stepInfo(step).key, reason: command.reason, error: null },
    };
    if (request.whatIf) return this.result(request, loaded, [{ ...(failed as unknown as { type: string; data: JsonObject }), streamId: migrationStreamId(id), revision: loaded.revision + 1 }], 0, { whatIf: true });
    const appended = await this.append(id, loaded.revision, [[`step/${step}/failed`, failed]], request, 'FailMigrationStep', step);
    return this.result(request, await this.load(id), appended.events, appended.position, { steps: [step] });
  }

  // -------------------------------------------------------------------------------------------
  // Four eyes

  private async approve(request: ExecuteMigrationCommand, command: ApproveChange, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    const id = command.migrationId;
    const asked = [...loaded.events].reverse().find((e) => e.type === (loaded.state.status === 'Planned' && loaded.state.planApproval === 'pending' ? 'MigrationPlanned' : 'MigrationRollbackRequested'));
    const requester = typeof asked?.metadata['actor'] === 'string' ? asked.metadata['actor'] : null;
    const subject = approvalSubject(id, loaded.state, request.context.actor, requester);
    const decision: MigrationEvent =
      command.decision === 'approve'
        ? { type: 'MigrationApproved', data: { migrationId: id, subject, reason: command.reason ?? null } }
        : { type: 'MigrationRejected', data: { migrationId: id, subject, reason: command.reason ?? null } };
    if (request.whatIf) return this.result(request, loaded, [], 0, { whatIf: true });
    const appended = await this.append(id, loaded.revision, [[`approval/${request.context.commandId}`, decision]], request, 'ApproveChange');
    return this.result(request, await this.load(id), appended.events, appended.position, {});
  }

  // -------------------------------------------------------------------------------------------
  // Rollback

  private async rollback(request: ExecuteMigrationCommand, command: RollbackMigration, first: LoadedMigration): Promise<MigrationCommandResult> {
    const id = command.migrationId;
    let loaded = first;
    const { state } = loaded;
    const plan = state.plan;
    if (!plan || state.status === 'RolledBack' || state.status === 'Rejected') {
      throw new MigrationStateInvalid(id, 'roll back', state.status, ['Planned', 'Running', 'Completed', 'Failed', 'RollingBack']);
    }
    const deployment = state.deployment ?? request.deployment;
    const topology = await this.repository.load(deployment);
    if (topology.state.legacyPools.get(plan.legacyPoolFqdn)?.status === 'Decommissioned') throw new MigrationNotReversible(id, plan.legacyPoolFqdn);

    if (request.whatIf) {
      const conflicts = state.status === 'RollingBack' ? [] : await this.conflicts(id, deployment, plan, state);
      if (conflicts.length > 0 && command.force !== true) throw new RollbackConflict(id, conflicts);
      return this.previewRollback(request, loaded, command, conflicts);
    }
    const events: DescribedEvent[] = [];
    let position = 0;
    const request4 = state.rollbackRequest;
    const approved = request4?.approval === 'approved';
    // A rollback under way keeps the reason it started with: its compensations are the same commands when resumed.
    const reason = state.rollback?.reason ?? (approved ? request4.reason : command.reason);
    // Under four eyes only an approved request may force; otherwise the caller may, also to finish a rollback a refusal stopped.
    const mayForce = this.config.fourEyes ? approved && request4.force : command.force === true;
    const force = state.rollback?.force === true || mayForce;
    if (this.config.fourEyes && !approved && (state.status !== 'RollingBack' || (command.force === true && !force))) {
      if (state.rollbackRequest?.approval === 'pending') throw new ApprovalRequired(id, 'rollback');
      if (state.status !== 'RollingBack') {
        const conflicts = await this.conflicts(id, deployment, plan, state);
        if (conflicts.length > 0 && command.force !== true) throw new RollbackConflict(id, conflicts);
      }
      const requested: MigrationEvent = { type: 'MigrationRollbackRequested', data: { migrationId: id, reason: command.reason, force: command.force === true } };
      const appended = await this.append(id, loaded.revision, [[`rollback/requested/${request.context.commandId}`, requested]], request, 'RollbackMigration');
      return this.result(request, await this.load(id), appended.events, appended.position, { approvalRequired: true });
    }
    if (state.status !== 'RollingBack') {
      const conflicts = await this.conflicts(id, deployment, plan, state);
      if (conflicts.length > 0 && !force) throw new RollbackConflict(id, conflicts);
      const started = await this.append(id, loaded.revision, [[`rollback/started/${request.context.commandId}`, { type: 'MigrationRollbackStarted', data: { migrationId: id, reason, force, conflicts } }]], request, 'RollbackMigration');
      events.push(...started.events);
      position = started.position;
      loaded = await this.load(id);
    }

    const compensated: number[] = [];
    for (const step of pendingCompensations(loaded.state)) {
      const info = stepInfo(step);
      const compensation = compensationOf(loaded.state.completed.get(step) ?? [], `rollback of migration ${id}: ${reason}`);
      let record: MigrationEvent;
      if (compensation === null) {
        record = { type: 'MigrationStepCompensated', data: { migrationId: id, step, key: info.key, command: null, events: [] } };
      } else {
        try {
          const result = await this.applyTopologyCommand(deployment, compensation, request.context, id, step, 'rollback');
          events.push(...result.events);
          position = Math.max(position, result.position);
          record = {
            type: 'MigrationStepCompensated',
            data: {
              migrationId: id,
              step,
              key: info.key,
              command: compensation.type,
              events: result.events.map((e) => ({ ...(e as unknown as TopologyEvent), revision: e.revision, position: result.position }) as StepTopologyEvent),
            },
          };
        } catch (error) {
          if (!(error instanceof DomainError) || error instanceof ConcurrencyConflict || error instanceof IdempotencyKeyReused) throw error;
          if (!force) throw new RollbackConflict(id, [], { code: error.code, message: error.message });
          record = { type: 'MigrationStepNotCompensated', data: { migrationId: id, step, key: info.key, command: compensation.type, error: { code: error.code, message: error.message } } };
        }
      }
      const appended = await this.append(id, loaded.revision, [[`rollback/${step}`, record]], request, 'RollbackMigration', step);
      events.push(...appended.events);
      position = Math.max(position, appended.position);
      if (record.type === 'MigrationStepCompensated') compensated.push(step);
      loaded = await this.load(id);
    }

    const after = (await this.repository.load(deployment)).state;
    const done: MigrationEvent = {
      type: 'MigrationRolledBack',
      data: {
        migrationId: id,
        compensated: [...loaded.state.compensated].sort((a, b) => b - a),
        notCompensated: [...loaded.state.notCompensated].sort((a, b) => b - a),
        continuity: continuityOf(after, plan, new Set()),
      },
    };
    const appended = await this.append(id, loaded.revision, [['rolledback', done]], request, 'RollbackMigration');
    events.push(...appended.events);
    position = Math.max(position, appended.position);
    const final = await this.load(id);
    return this.result(request, final, events, position, { steps: compensated, notCompensated: [...final.state.notCompensated] });
  }

  /** R20: later changes, outside this migration, to what it changed. */
  private async conflicts(id: string, deployment: string, plan: MigrationPlan, state: MigrationState) {
    const from = firstTopologyRevision(state);
    if (from === null) return [];
    const later = await this.store.readStream(topologyStreamId(deployment), { fromRevision: from });
    const own = new Set(MIGRATION_STEPS.flatMap(({ step }) => [this.stepCommandId(id, step, 'run'), this.stepCommandId(id, step, 'rollback')]));
    const text = (value: JsonValue | undefined): string | null => (typeof value === 'string' ? value : null);
    return rollbackConflicts(
      id,
      plan,
      later.map((e) => ({
        event: toTopologyEvent(e),
        streamId: e.streamId,
        revision: e.revision,
        position: e.position,
        // Its own steps, also one stored by a process that died before tagging could be read back (found by command id).
        migrationId: own.has(text(e.metadata['commandId']) ?? '') ? id : text(e.metadata['migrationId']),
        actor: text(e.metadata['actor']),
        command: text(e.metadata['command']),
        occurredAt: text(e.metadata['occurredAt']),
      })),
    );
  }

  /** Records as completed the next step if its topology command was already applied (found by its command id). */
  private async reconcile(request: ExecuteMigrationCommand, loaded: LoadedMigration): Promise<LoadedMigration> {
    const { state } = loaded;
    const plan = state.plan;
    const step = nextStep(state);
    if (!plan || step === null || state.status === 'RollingBack' || state.status === 'RolledBack' || state.status === 'Rejected') return loaded;
    const topologyCommand = stepCommand(plan, step);
    if (!topologyCommand) return loaded;
    const deployment = state.deployment ?? request.deployment;
    const topology = await this.repository.load(deployment);
    const record = topology.commands.get(this.stepCommandId(loaded.migrationId, step, 'run'));
    if (!record) return loaded;
    const outcome = await this.repository.outcomeOf(topology.streamId, this.stepCommandId(loaded.migrationId, step, 'run'), record);
    const events = outcome.events.map((e) => ({ ...(e as unknown as TopologyEvent), revision: e.revision, position: outcome.position }) as StepTopologyEvent);
    const continuity = continuityOf(topology.state, plan, new Set([...state.completed.keys(), step]));
    const completed: MigrationEvent = { type: 'MigrationStepCompleted', data: { migrationId: loaded.migrationId, step, key: stepInfo(step).key, events, continuity, note: stepNote(plan, step) } };
    await this.append(loaded.migrationId, loaded.revision, [[`step/${step}/completed`, completed]], request, 'RunMigration', step);
    return this.load(loaded.migrationId);
  }

  private stepCommandId(migrationId: string, step: number, phase: 'run' | 'rollback'): string {
    return uuidFromName(`${migrationStreamId(migrationId)}/${phase}/${step}`);
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  /** A step (or its compensation) through the topology decider, as a command whose id is derived from the migration and step. */
  private applyTopologyCommand(
    deployment: string,
    command: TopologyCommand,
    context: CommandContext,
    migrationId: string,
    step: number,
    phase: 'run' | 'rollback',
  ): Promise<TopologyCommandResult> {
    const stepContext: CommandContext = {
      ...context,
      commandId: this.stepCommandId(migrationId, step, phase),
      correlationId: migrationId,
      causationId: context.commandId,
      migration: { id: migrationId, step, phase },
    };
    return this.commandBus.execute<ExecuteTopologyCommand, TopologyCommandResult>(
      new ExecuteTopologyCommand(deployment, command, stepContext, this.fingerprintOf(deployment, command), false),
    );
  }

  private fingerprintOf(deployment: string, command: TopologyCommand): string {
    return commandFingerprint(command.type, deployment, command as unknown as JsonValue);
  }

  /**
   * A request whose command id already wrote to this migration gets what it wrote, and nothing runs
   * again; the same id with another request is refused. A rollback, or a run of every remaining step,
   * that a crash cut short carries on instead: finishing is what the retry asks for.
   */
  private replayOf(loaded: LoadedMigration, request: ExecuteMigrationCommand): MigrationCommandResult | null {
    if (request.whatIf) return null;
    const mine = loaded.events.filter((e) => e.metadata['commandId'] === request.context.commandId);
    if (mine.length === 0) return null;
    const fingerprint = mine[0]!.metadata['commandFingerprint'];
    if (typeof fingerprint === 'string' && fingerprint !== request.fingerprint) throw new IdempotencyKeyReused(request.context.commandId);
    const { command } = request;
    const { status } = loaded.state;
    if (command.type === 'RollbackMigration' && status === 'RollingBack') return null;
    if (command.type === 'RunMigration' && command.steps === undefined && status === 'Running') return null;
    // The steps as the first answer gave them: those this command completed, or compensated.
    const stepsOf = (type: MigrationEvent['type']): number[] => mine.filter((e) => e.type === type).map((e) => Number(e.data['step']));
    const extra =
      command.type === 'RunMigration'
        ? { steps: stepsOf('MigrationStepCompleted') }
        : command.type === 'RollbackMigration'
          ? { steps: stepsOf('MigrationStepCompensated'), notCompensated: [...loaded.state.notCompensated] }
          : {};
    // The events as the first answer listed them: each step's topology events, then the step's record.
    const topologyStream = topologyStreamId(loaded.state.deployment ?? request.deployment);
    const listed = mine.flatMap((e): DescribedEvent[] => {
      const stepEvents = (e.type === 'MigrationStepCompleted' || e.type === 'MigrationStepCompensated') && Array.isArray(e.data['events']) ? e.data['events'] : [];
      return [
        ...stepEvents.map((t) => describe({ ...(t as unknown as StepTopologyEvent), streamId: topologyStream })),
        describe(e),
      ];
    });
    return {
      ...this.result(request, loaded, listed, mine[mine.length - 1]!.position, extra),
      replayed: true,
    };
  }

  private result(
    request: ExecuteMigrationCommand,
    loaded: LoadedMigration,
    events: DescribedEvent[],
    position: number,
    extra: { steps?: number[]; notCompensated?: number[]; whatIf?: boolean; approvalRequired?: boolean },
  ): MigrationCommandResult {
    return {
      commandId: request.context.commandId,
      deployment: loaded.state.deployment ?? request.deployment,
      migrationId: loaded.migrationId,
      status: loaded.state.status,
      events,
      position,
      whatIf: extra.whatIf === true,
      replayed: false,
      ...(extra.steps ? { steps: extra.steps } : {}),
      ...(extra.notCompensated ? { notCompensated: extra.notCompensated } : {}),
      ...(extra.approvalRequired || loaded.state.planApproval === 'pending' ? { approvalRequired: true } : {}),
    };
  }

  private async tryLoad(migrationId: string): Promise<LoadedMigration | null> {
    let recorded: RecordedEvent[];
    try {
      recorded = await this.store.readStream(migrationStreamId(migrationId));
    } catch (error) {
      if (error instanceof StreamNotFound) return null;
      throw error;
    }
    let state = initialMigrationState();
    for (const event of recorded) state = evolveMigration(state, toMigrationEvent(event));
    return { migrationId, state, revision: recorded.length > 0 ? recorded[recorded.length - 1]!.revision : -1, events: recorded };
  }

  private async load(migrationId: string): Promise<LoadedMigration> {
    const loaded = await this.tryLoad(migrationId.toLowerCase());
    if (!loaded || !loaded.state.plan) throw new MigrationNotFound(migrationId);
    return loaded;
  }

  private async append(
    migrationId: string,
    revision: number,
    events: readonly (readonly [string, MigrationEvent])[],
    request: ExecuteMigrationCommand,
    command: MigrationCommandType,
    step?: number,
  ): Promise<{ events: DescribedEvent[]; position: number }> {
    const streamId = migrationStreamId(migrationId);
    const metadata = auditMetadata(request.context, {
      deployment: request.deployment,
      command,
      commandFingerprint: request.fingerprint,
      migrationId,
      ...(step !== undefined ? { migrationStep: step } : {}),
      warnings: [],
    });
    const expectedRevision: ExpectedRevision = revision < 0 ? 'no_stream' : revision;
    const result = await this.store.appendToStream(
      streamId,
      withSchemaVersions(events.map(([key, event]) => ({ id: uuidFromName(`${streamId}/${key}`), type: event.type, data: event.data as unknown as JsonObject, metadata }))),
      { expectedRevision },
    );
    return {
      events: events.map(([, event], i) => describe({ ...event, streamId, revision: revision + 1 + i })),
      position: result.position,
    };
  }
}

/** An event as a command's answer lists it: a recorded one, or one appended or simulated at `streamId` and `revision`. */
function describe(event: { readonly type: string; readonly data: unknown; readonly streamId: string; readonly revision: number }): DescribedEvent {
  return { type: event.type, data: event.data as JsonObject, streamId: event.streamId, revision: event.revision };
}
