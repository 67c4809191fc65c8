import { CommandBus } from '@nestjs/cqrs';
import {
  assertNever,
  DomainError,
  evolveMigration,
  initialMigrationState,
  MigrationNotFound,
  SimulatedSteps,
  type MigrationCommandType,
  type MigrationEvent,
  type MigrationState,
  type StepOutcome,
  type StepPhase,
  type StepPort,
  type StepTopologyEvent,
  type TopologyCommand,
  type TopologyEvent,
  type TopologyState,
} from '../domain';
import { toMigrationEvent, withSchemaVersions } from '../domain/events';
import { type EventStore, type ExpectedRevision, type JsonObject, type JsonValue, type RecordedEvent, StreamNotFound } from '../event-store/event-store';
import { auditMetadata, type CommandContext, commandFingerprint, uuidFromName } from './audit';
import { ConcurrencyConflict, IdempotencyKeyReused } from './errors';
import { ExecuteTopologyCommand, type TopologyCommandResult } from './execute-topology-command';
import { migrationStreamId } from './streams';
import type { TopologyRepository } from './topology-repository';

/** An event as a migration command's answer lists it. */
export type DescribedEvent = { type: string; data: JsonObject; streamId: string; revision: number };

/** A migration's stream as read: its state, its revision, and its recorded events (with their metadata). */
export interface LoadedMigration {
  readonly migrationId: string;
  readonly state: MigrationState;
  readonly revision: number;
  readonly events: readonly RecordedEvent[];
}

/** Who appends to a migration's stream, and for which request. */
export interface MigrationWriter {
  readonly deployment: string;
  readonly context: CommandContext;
  readonly fingerprint: string;
  readonly command: MigrationCommandType;
}

/** The migration streams (`migration-<id>`): read into the migration's state, appended to at a revision. */
export class MigrationStreams {
  constructor(private readonly store: EventStore) {}

  async tryLoad(migrationId: string): Promise<LoadedMigration | null> {
    let recorded: RecordedEvent[];
    try {
      recorded = await this.store.readStream(migrationStreamId(migrationId));
    } catch (error) {
      if (error instanceof StreamNotFound) return null;
      throw error;
    }
    const state = evolveAll(initialMigrationState(), recorded.map((e) => toMigrationEvent(e)));
    return { migrationId, state, revision: recorded.length > 0 ? recorded[recorded.length - 1]!.revision : -1, events: recorded };
  }

  async load(migrationId: string): Promise<LoadedMigration> {
    const loaded = await this.tryLoad(migrationId.toLowerCase());
    if (!loaded || !loaded.state.plan) throw new MigrationNotFound(migrationId);
    return loaded;
  }

  /** Appends `events` to the migration's stream at `revision`, each with an id derived from what it records. */
  async append(migrationId: string, revision: number, events: readonly MigrationEvent[], writer: MigrationWriter): Promise<{ events: DescribedEvent[]; position: number }> {
    const streamId = migrationStreamId(migrationId);
    const step = events.map((e) => ('step' in e.data ? e.data.step : undefined)).find((s) => s !== undefined);
    const metadata = auditMetadata(writer.context, {
      deployment: writer.deployment,
      command: writer.command,
      commandFingerprint: writer.fingerprint,
      migrationId,
      ...(step !== undefined ? { migrationStep: step } : {}),
      warnings: [],
    });
    const expectedRevision: ExpectedRevision = revision < 0 ? 'no_stream' : revision;
    const result = await this.store.appendToStream(
      streamId,
      withSchemaVersions(
        events.map((event) => ({ id: uuidFromName(`${streamId}/${eventKey(event, writer.context.commandId)}`), type: event.type, data: event.data as unknown as JsonObject, metadata })),
      ),
      { expectedRevision },
    );
    return {
      events: events.map((event, i) => describe({ ...event, streamId, revision: revision + 1 + i })),
      position: result.position,
    };
  }
}

/** A port that also gives the command's answer: the events it appended (or would), and the position of the last. */
export interface AnsweringPort extends StepPort {
  readonly position: number;
  described(): DescribedEvent[];
}

/** The port of a dry run: the steps simulated in memory, and listed with the streams they would be appended to. */
export class DryRun extends SimulatedSteps implements AnsweringPort {
  readonly position = 0;

  constructor(topology: { state: TopologyState; revision: number; streamId: string }, loaded: LoadedMigration) {
    super(topology.state, topology.revision, loaded.revision);
    this.topologyStream = topology.streamId;
    this.migrationStream = migrationStreamId(loaded.migrationId);
  }

  private readonly topologyStream: string;
  private readonly migrationStream: string;

  described(): DescribedEvent[] {
    return this.events.map((e) => describe({ ...e, streamId: e.stream === 'topology' ? this.topologyStream : this.migrationStream }));
  }
}

/**
 * The port of a real command: each step's topology command goes through the topology's handler
 * (its idempotency, its group commit, its audit metadata) with a command id derived from the
 * migration and the step, and the migration's records are appended at the revision the migration is at.
 */
export class AppliedSteps implements AnsweringPort {
  readonly dryRun = false;
  position = 0;
  private readonly events: DescribedEvent[] = [];
  private revision: number;

  constructor(
    private readonly commandBus: CommandBus,
    private readonly repository: TopologyRepository,
    private readonly streams: MigrationStreams,
    private readonly loaded: LoadedMigration,
    private readonly writer: MigrationWriter,
    /** The context the steps' topology commands are recorded with. */
    private readonly stepContext: CommandContext,
  ) {
    this.revision = loaded.revision;
  }

  async apply(command: TopologyCommand, step: number, phase: StepPhase): Promise<StepOutcome> {
    const migrationId = this.loaded.migrationId;
    const { deployment } = this.writer;
    const context: CommandContext = {
      ...this.stepContext,
      commandId: stepCommandId(migrationId, step, phase),
      correlationId: migrationId,
      causationId: this.stepContext.commandId,
      migration: { id: migrationId, step, phase },
    };
    let result: TopologyCommandResult;
    try {
      result = await this.commandBus.execute<ExecuteTopologyCommand, TopologyCommandResult>(
        new ExecuteTopologyCommand(deployment, command, context, commandFingerprint(command.type, deployment, command as unknown as JsonValue), false),
      );
    } catch (error) {
      // Only the topology's refusal fails a step; a lost race or a reused key is the caller's to retry.
      if (!(error instanceof DomainError) || error instanceof ConcurrencyConflict || error instanceof IdempotencyKeyReused) throw error;
      return { refusal: error };
    }
    this.events.push(...result.events);
    this.position = Math.max(this.position, result.position);
    return { events: stepEventsOf(result) };
  }

  async topology(): Promise<TopologyState> {
    return (await this.repository.load(this.writer.deployment)).state;
  }

  async record(events: readonly MigrationEvent[]): Promise<void> {
    if (events.length === 0) return;
    const appended = await this.streams.append(this.loaded.migrationId, this.revision, events, this.writer);
    this.revision += events.length;
    this.events.push(...appended.events);
    this.position = Math.max(this.position, appended.position);
  }

  described(): DescribedEvent[] {
    return this.events;
  }
}

export function evolveAll(state: MigrationState, events: readonly MigrationEvent[]): MigrationState {
  return events.reduce(evolveMigration, state);
}

/** The topology events a step's command appended, as the migration's record keeps them. */
export function stepEventsOf(outcome: { readonly events: readonly DescribedEvent[]; readonly position: number }): StepTopologyEvent[] {
  return outcome.events.map((e) => ({ ...(e as unknown as TopologyEvent), revision: e.revision, position: outcome.position }) as StepTopologyEvent);
}

/** The command id of a step's topology command (or its compensation): a step reached twice is stored once. */
export function stepCommandId(migrationId: string, step: number, phase: StepPhase): string {
  return uuidFromName(`${migrationStreamId(migrationId)}/${phase}/${step}`);
}

/** What an event of the migration's stream is named by in its id: a retry that reaches the store twice is stored once. */
function eventKey(event: MigrationEvent, commandId: string): string {
  switch (event.type) {
    case 'MigrationPlanned':
      return `planned/${commandId}`;
    case 'MigrationApproved':
    case 'MigrationRejected':
      return `approval/${commandId}`;
    case 'MigrationRollbackRequested':
      return `rollback/requested/${commandId}`;
    case 'MigrationStepCompleted':
      return `step/${event.data.step}/completed`;
    case 'MigrationStepFailed':
      return `step/${event.data.step}/failed`;
    case 'MigrationCompleted':
      return 'completed';
    case 'MigrationRollbackStarted':
      return `rollback/started/${commandId}`;
    case 'MigrationStepCompensated':
    case 'MigrationStepNotCompensated':
      return `rollback/${event.data.step}`;
    case 'MigrationRolledBack':
      return 'rolledback';
    default:
      return assertNever(event);
  }
}

/** An event as a command's answer lists it: a recorded one, or one appended or simulated at `streamId` and `revision`. */
export function describe(event: { readonly type: string; readonly data: unknown; readonly streamId: string; readonly revision: number }): DescribedEvent {
  return { type: event.type, data: event.data as JsonObject, streamId: event.streamId, revision: event.revision };
}
