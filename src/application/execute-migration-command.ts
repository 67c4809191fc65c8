import { Inject } from '@nestjs/common';
import { CommandBus, CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import {
  compensateSteps,
  decideApproval,
  decideFailure,
  decidePlan,
  decideRollback,
  decideStep,
  firstTopologyRevision,
  initialMigrationState,
  LAST_STEP,
  MIGRATION_STEPS,
  nextStep,
  OPEN_STATUSES,
  planMigration,
  requireNextStep,
  requireRunnable,
  runbookOf,
  runSteps,
  stepCommand,
  type ApproveChange,
  type FailMigrationStep,
  type LaterTopologyEvent,
  type MigratePool,
  type MigrationCommand,
  type MigrationCommandType,
  type MigrationEvent,
  type MigrationPlan,
  type MigrationState,
  type MigrationStatus,
  type RollbackMigration,
  type RunMigration,
  type StepTopologyEvent,
} from '../domain';
import { toTopologyEvent } from '../domain/events';
import { EVENT_STORE, EventStore, type JsonObject, type JsonValue, WrongExpectedVersion } from '../event-store/event-store';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { type CommandContext, uuidFromName } from './audit';
import { IdempotencyKeyReused } from './errors';
import { KeyedLock } from './keyed-lock';
import {
  AppliedSteps,
  type AnsweringPort,
  type DescribedEvent,
  describe,
  DryRun,
  evolveAll,
  type LoadedMigration,
  MigrationStreams,
  stepCommandId,
  stepEventsOf,
} from './migration-steps';
import { reasonWarning, requireReason } from './reason-policy';
import { topologyStreamId } from './streams';
import { TopologyRepository } from './topology-repository';

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
  /** A dry run without the reason its real run would need (the reason policy): said, not refused. */
  readonly warnings?: JsonObject[];
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
 * The migration process (R16–R20): loads the migration and the deployment's topology, has the
 * domain's migration decider decide, appends what it decided, and answers. A migration is its own
 * stream, `migration-<id>`; each step is applied through the topology decider as a command with an
 * id derived from the migration and the step, so a step reached twice (a retry, a restart after a
 * crash) is stored once, and the migration resumes at its first unfinished step. A dry run goes
 * through the same decisions and the same step loop, on a simulated topology.
 */
@CommandHandler(ExecuteMigrationCommand)
export class ExecuteMigrationCommandHandler implements ICommandHandler<ExecuteMigrationCommand, MigrationCommandResult> {
  // Per deployment: a plan checks the deployment's other migrations, and steps of one migration never interleave.
  private readonly lock = new KeyedLock();
  private readonly streams: MigrationStreams;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly repository: TopologyRepository,
    private readonly commandBus: CommandBus,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.streams = new MigrationStreams(store);
  }

  async execute(received: ExecuteMigrationCommand): Promise<MigrationCommandResult> {
    const result = await this.decideAndRecord(received);
    const { command, context, whatIf } = received;
    const unreasoned = reasonWarning(this.config.reasonRequiredFor, command.type, (command.type === 'MigratePool' ? command.reason : undefined) ?? context.reason, whatIf);
    return unreasoned && !result.replayed ? { ...result, warnings: [unreasoned] } : result;
  }

  private async decideAndRecord(received: ExecuteMigrationCommand): Promise<MigrationCommandResult> {
    const { command } = received;
    if (command.type === 'MigratePool') return this.lock.run(received.deployment, () => this.plan(received, command));
    // A migration is addressed by its id, whatever deployment the request names: it belongs to the one it was planned in.
    const deployment = (await this.streams.load(command.migrationId)).state.deployment ?? received.deployment;
    const request = new ExecuteMigrationCommand(deployment, command, received.context, received.fingerprint, received.whatIf);
    return this.lock.run(deployment, async () => {
      let loaded = await this.streams.load(command.migrationId);
      const replay = this.replayOf(loaded, request);
      if (replay) return replay;
      requireReason(this.config.reasonRequiredFor, command.type, request.context.reason, request.whatIf);
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

  private async plan(request: ExecuteMigrationCommand, command: MigratePool): Promise<MigrationCommandResult> {
    const { deployment, context, whatIf } = request;
    const topology = await this.repository.load(deployment);
    let attempt = 1;
    let latest: LoadedMigration | null = null;
    for (; ; attempt++) {
      const found = await this.streams.tryLoad(migrationIdFor(deployment, command.legacyPoolFqdn, attempt));
      if (!found) break;
      latest = found;
    }
    if (latest && !whatIf) {
      const replay = this.replayOf(latest, request);
      if (replay) return { ...replay, plan: latest.state.plan ?? undefined, runbook: latest.state.plan ? runbookOf(latest.state.plan) : undefined } as MigrationCommandResult;
    }
    requireReason(this.config.reasonRequiredFor, command.type, command.reason ?? context.reason, whatIf);
    const migrationId = migrationIdFor(deployment, command.legacyPoolFqdn, attempt);
    const other = latest && OPEN_STATUSES.includes(latest.state.status) ? { migrationId: latest.migrationId, status: latest.state.status } : null;
    const plan = planMigration(command, migrationId, topology.state, other);
    const planned = decidePlan(plan, deployment, this.config.fourEyes);
    const fresh: LoadedMigration = { migrationId, state: initialMigrationState(), revision: -1, events: [] };
    const port = await this.portFor(request, fresh, context, 'MigratePool');
    try {
      await port.record(planned);
    } catch (error) {
      // Another process planned this pool's next migration first: plan again, against it.
      if (error instanceof WrongExpectedVersion) return this.plan(request, command);
      throw error;
    }
    const answered = this.answer(request, fresh, port, { state: evolveAll(fresh.state, planned) });
    // The plan and its runbook first, as the answer has always listed them.
    const { commandId, deployment: at, migrationId: id, replayed, ...rest } = answered;
    return { commandId, deployment: at, migrationId: id, plan, runbook: runbookOf(plan), replayed, ...rest };
  }

  private async run(request: ExecuteMigrationCommand, command: RunMigration, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    requireRunnable(loaded.migrationId, loaded.state);
    requireNextStep(loaded.migrationId, loaded.state, command.fromStep);
    // The steps' changes are recorded with the migration's reason unless the run gives its own.
    const context: CommandContext = { ...request.context, reason: request.context.reason ?? plannedReason(loaded) };
    const port = await this.portFor(request, loaded, context, 'RunMigration');
    const { state, steps } = await runSteps(loaded.migrationId, loaded.state, command.steps ?? LAST_STEP, port);
    return this.answer(request, loaded, port, { state, steps });
  }

  private async fail(request: ExecuteMigrationCommand, command: FailMigrationStep, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    const events = decideFailure(command, loaded.state);
    const port = await this.portFor(request, loaded, request.context, 'FailMigrationStep');
    await port.record(events);
    const steps = events.flatMap((e) => (e.type === 'MigrationStepFailed' ? [e.data.step] : []));
    return this.answer(request, loaded, port, { state: evolveAll(loaded.state, events), ...(request.whatIf ? {} : { steps }) });
  }

  private async approve(request: ExecuteMigrationCommand, command: ApproveChange, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    const waiting = loaded.state.status === 'Planned' && loaded.state.planApproval === 'pending' ? 'MigrationPlanned' : 'MigrationRollbackRequested';
    const asked = [...loaded.events].reverse().find((e) => e.type === waiting);
    const requester = typeof asked?.metadata['actor'] === 'string' ? asked.metadata['actor'] : null;
    const events = decideApproval(command, loaded.state, request.context.actor, requester);
    const port = await this.portFor(request, loaded, request.context, 'ApproveChange');
    // A dry run of an approval lists nothing: what it would approve is the plan or the rollback already shown.
    if (!request.whatIf) await port.record(events);
    return this.answer(request, loaded, port, { state: evolveAll(loaded.state, events) });
  }

  private async rollback(request: ExecuteMigrationCommand, command: RollbackMigration, loaded: LoadedMigration): Promise<MigrationCommandResult> {
    const { state } = loaded;
    const deployment = state.deployment ?? request.deployment;
    const topology = await this.repository.load(deployment);
    // R20's conflict check reads the topology's changes since the first step, when a rollback starts.
    const later = state.status === 'RollingBack' ? [] : await this.laterChanges(loaded, deployment);
    const decision = decideRollback(command, state, topology.state, { fourEyes: this.config.fourEyes, dryRun: request.whatIf, later });
    const port = await this.portFor(request, loaded, request.context, 'RollbackMigration');
    await port.record(decision.events);
    const started = evolveAll(state, decision.events);
    if (decision.kind === 'request') return this.answer(request, loaded, port, { state: started, approvalRequired: true });
    const done = await compensateSteps(loaded.migrationId, started, decision.terms, port);
    return this.answer(request, loaded, port, { state: done.state, steps: done.steps, notCompensated: [...done.state.notCompensated] });
  }

  /** R20: the topology's events since the migration's first step, each with who appended it and for which migration. */
  private async laterChanges(loaded: LoadedMigration, deployment: string): Promise<LaterTopologyEvent[]> {
    const from = firstTopologyRevision(loaded.state);
    if (from === null) return [];
    const id = loaded.migrationId;
    const later = await this.store.readStream(topologyStreamId(deployment), { fromRevision: from });
    const own = new Set(MIGRATION_STEPS.flatMap(({ step }) => [stepCommandId(id, step, 'run'), stepCommandId(id, step, 'rollback')]));
    const text = (value: JsonValue | undefined): string | null => (typeof value === 'string' ? value : null);
    return later.map((e) => ({
      event: toTopologyEvent(e),
      streamId: e.streamId,
      revision: e.revision,
      position: e.position,
      // Its own steps, also one stored by a process that died before tagging could be read back (found by command id).
      migrationId: own.has(text(e.metadata['commandId']) ?? '') ? id : text(e.metadata['migrationId']),
      actor: text(e.metadata['actor']),
      command: text(e.metadata['command']),
      occurredAt: text(e.metadata['occurredAt']),
    }));
  }

  /** Records as completed the next step if its topology command was already applied (found by its command id). */
  private async reconcile(request: ExecuteMigrationCommand, loaded: LoadedMigration): Promise<LoadedMigration> {
    const { state } = loaded;
    const plan = state.plan;
    const step = nextStep(state);
    if (!plan || step === null || state.status === 'RollingBack' || state.status === 'RolledBack' || state.status === 'Rejected') return loaded;
    if (!stepCommand(plan, step)) return loaded;
    const topology = await this.repository.load(state.deployment ?? request.deployment);
    const commandId = stepCommandId(loaded.migrationId, step, 'run');
    const record = topology.commands.get(commandId);
    if (!record) return loaded;
    const outcome = await this.repository.outcomeOf(topology.streamId, commandId, record);
    const { events } = decideStep(loaded.migrationId, plan, state, step, { events: stepEventsOf(outcome) }, topology.state);
    await this.streams.append(loaded.migrationId, loaded.revision, events, { deployment: request.deployment, context: request.context, fingerprint: request.fingerprint, command: 'RunMigration' });
    return this.streams.load(loaded.migrationId);
  }

  // -------------------------------------------------------------------------------------------
  // The ports: the steps applied and recorded for real, or simulated for a dry run

  private async portFor(request: ExecuteMigrationCommand, loaded: LoadedMigration, stepContext: CommandContext, command: MigrationCommandType): Promise<AnsweringPort> {
    const deployment = loaded.state.deployment ?? request.deployment;
    if (request.whatIf) return new DryRun(await this.repository.load(deployment), loaded);
    const writer = { deployment, context: request.context, fingerprint: request.fingerprint, command };
    return new AppliedSteps(this.commandBus, this.repository, this.streams, loaded, writer, stepContext);
  }

  // -------------------------------------------------------------------------------------------
  // Answers

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
      ...this.result(request, loaded.migrationId, loaded.state, listed, mine[mine.length - 1]!.position, extra),
      replayed: true,
    };
  }

  /** The answer to a command that went through `port`: a dry run answers with the migration as it is, nothing changed. */
  private answer(
    request: ExecuteMigrationCommand,
    loaded: LoadedMigration,
    port: AnsweringPort,
    outcome: { state?: MigrationState; steps?: number[]; notCompensated?: number[]; approvalRequired?: boolean },
  ): MigrationCommandResult {
    const { state, ...extra } = outcome;
    return this.result(request, loaded.migrationId, request.whatIf ? loaded.state : (state ?? loaded.state), port.described(), port.position, { ...extra, whatIf: request.whatIf });
  }

  private result(
    request: ExecuteMigrationCommand,
    migrationId: string,
    state: MigrationState,
    events: DescribedEvent[],
    position: number,
    extra: { steps?: number[]; notCompensated?: number[]; whatIf?: boolean; approvalRequired?: boolean },
  ): MigrationCommandResult {
    return {
      commandId: request.context.commandId,
      deployment: state.deployment ?? request.deployment,
      migrationId,
      status: state.status,
      events,
      position,
      whatIf: extra.whatIf === true,
      replayed: false,
      ...(extra.steps ? { steps: extra.steps } : {}),
      ...(extra.notCompensated ? { notCompensated: extra.notCompensated } : {}),
      ...(extra.approvalRequired || state.planApproval === 'pending' ? { approvalRequired: true } : {}),
    };
  }

}
