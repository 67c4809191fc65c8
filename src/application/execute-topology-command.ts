import { Inject, Optional } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { decide, TopologyCommand, TopologyFold } from '../domain';
import { AppendResult, EVENT_STORE, EventStore, EventToAppend, JsonObject, WrongExpectedVersion } from '../event-store/event-store';
import { auditMetadata, CommandContext, uuidFromName } from './audit';
import { ConcurrencyConflict, IdempotencyKeyReused } from './errors';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { KeyedBatches } from './keyed-lock';
import { reasonWarning, requireReason } from './reason-policy';
import { CommandOutcome, CommandRecord, LoadedTopology, TopologyRepository } from './topology-repository';
import { withSchemaVersions } from '../domain/events';

/** A topology command for one deployment, with who asks and why. */
export class ExecuteTopologyCommand {
  constructor(
    readonly deployment: string,
    readonly command: TopologyCommand,
    readonly context: CommandContext,
    /** Identifies the request, so a reused command id with another request is refused. */
    readonly fingerprint: string,
    readonly whatIf: boolean,
  ) {}
}

export interface TopologyCommandResult extends CommandOutcome {
  readonly whatIf: boolean;
  /** True when this is the stored result of an earlier request with the same command id. */
  readonly replayed: boolean;
}

const MAX_ATTEMPTS = 8;
/** At most this many commands of one deployment are decided and appended together. */
export const MAX_BATCH = 64;

interface Queued {
  readonly request: ExecuteTopologyCommand;
  readonly resolve: (result: TopologyCommandResult) => void;
  readonly reject: (error: unknown) => void;
}

/** A command of the batch whose events are in the batch's append. */
interface Decided {
  readonly commandId: string;
  readonly fingerprint: string;
  readonly events: CommandOutcome['events'];
  readonly warnings: JsonObject[];
  /** Where its events start in the batch's append. */
  readonly offset: number;
}

/** What a command of the batch is answered once the batch is durable (or refused, or failed, with the batch). */
type Answer =
  | { readonly kind: 'done'; readonly result: TopologyCommandResult }
  | { readonly kind: 'appended'; readonly decided: Decided }
  /** The same command id, with the same request, earlier in this batch: its result, as a replay. */
  | { readonly kind: 'replay'; readonly of: Decided }
  | { readonly kind: 'refused'; readonly error: unknown };

/**
 * Group commit within a deployment. The commands of a deployment queue (`KeyedBatches`); those that
 * queued while the previous batch was being committed form the next batch. A batch is decided in
 * arrival order on the deployment's state, each command on the state the ones before it leave
 * (a refused command or a dry run leaves it as it was), and the events of all its commands are
 * appended in one append with one expected revision: one transaction. Each command is answered only
 * once that append is durable; when it fails, every command of the batch fails with it and none is
 * acknowledged. On a version conflict (another process wrote first) the whole batch is decided
 * again on the newer state.
 */
@CommandHandler(ExecuteTopologyCommand)
export class ExecuteTopologyCommandHandler implements ICommandHandler<ExecuteTopologyCommand, TopologyCommandResult> {
  private readonly batches = new KeyedBatches<Queued>((deployment, batch) => this.runBatch(deployment, batch), MAX_BATCH);

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly repository: TopologyRepository,
    @Optional() @Inject(CONFIG) private readonly config?: Pick<Config, 'reasonRequiredFor'>,
  ) {}

  execute(request: ExecuteTopologyCommand): Promise<TopologyCommandResult> {
    return new Promise<TopologyCommandResult>((resolve, reject) => this.batches.add(request.deployment, { request, resolve, reject }));
  }

  private async runBatch(deployment: string, batch: readonly Queued[]): Promise<void> {
    let answers: Answer[];
    let positions: readonly number[];
    try {
      ({ answers, positions } = await this.decideAndAppend(deployment, batch));
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const answer = answers[i]!;
      switch (answer.kind) {
        case 'done':
          return item.resolve(answer.result);
        case 'refused':
          return item.reject(answer.error);
        case 'appended':
        case 'replay': {
          const decided = answer.kind === 'appended' ? answer.decided : answer.of;
          return item.resolve({
            commandId: decided.commandId,
            fingerprint: decided.fingerprint,
            events: decided.events,
            position: positions[decided.offset + decided.events.length - 1]!,
            warnings: decided.warnings,
            whatIf: false,
            replayed: answer.kind === 'replay',
          });
        }
      }
    });
  }

  /** Decides the batch and appends its events; on a version conflict, again on the newer state. */
  private async decideAndAppend(deployment: string, batch: readonly Queued[]): Promise<{ answers: Answer[]; positions: readonly number[] }> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.repository.load(deployment);
      const { answers, events, decided, fold } = await this.decide(loaded, batch);
      if (events.length === 0) return { answers, positions: [] };
      try {
        const appended = await this.store.appendToStream(loaded.streamId, withSchemaVersions(events), {
          expectedRevision: loaded.revision < 0 ? 'no_stream' : loaded.revision,
        });
        const firstRevision = loaded.revision + 1;
        const records = new Map<string, CommandRecord>();
        const positions = await this.positionsOf(loaded.streamId, firstRevision, events.length, appended, decided.length > 1);
        for (const d of decided) {
          records.set(d.commandId, {
            fingerprint: d.fingerprint,
            firstRevision: firstRevision + d.offset,
            count: d.events.length,
            position: positions[d.offset + d.events.length - 1]!,
            warnings: d.warnings,
          });
        }
        this.repository.appendedAll(deployment, fold.result(), appended.nextExpectedRevision, records);
        return { answers, positions };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyConflict(deployment, attempt);
      }
    }
  }

  /** Each command of the batch in order, on the state the ones before it leave. Appends nothing. */
  private async decide(loaded: LoadedTopology, batch: readonly Queued[]) {
    const fold = new TopologyFold(loaded.state);
    const events: EventToAppend[] = [];
    const decided: Decided[] = [];
    const inBatch = new Map<string, Decided>();
    const answers: Answer[] = [];
    for (const { request } of batch) {
      const { context } = request;
      try {
        const earlierHere = inBatch.get(context.commandId);
        if (earlierHere) {
          if (earlierHere.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused(context.commandId);
          answers.push({ kind: 'replay', of: earlierHere });
          continue;
        }
        const earlier = loaded.commands.get(context.commandId);
        if (earlier) {
          if (earlier.fingerprint !== null && earlier.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused(context.commandId);
          const outcome = await this.repository.outcomeOf(loaded.streamId, context.commandId, earlier);
          answers.push({ kind: 'done', result: { ...outcome, whatIf: false, replayed: true } });
          continue;
        }

        // The product's own policy is the decider's; the deployment's (REASON_REQUIRED_FOR) comes after it,
        // and after the replay above: a retry of a change already made is answered, not refused.
        const decision = decide(request.command, fold.state);
        if (this.config) requireReason(this.config.reasonRequiredFor, request.command.type, context.reason, request.whatIf);
        const warnings: JsonObject[] = decision.warnings.map((w) => ({ code: w.code, rule: w.rule, message: w.message }));
        const unreasoned = this.config ? reasonWarning(this.config.reasonRequiredFor, request.command.type, context.reason, request.whatIf) : undefined;
        if (unreasoned) warnings.push(unreasoned);
        const metadata = auditMetadata(context, {
          deployment: request.deployment,
          command: request.command.type,
          commandFingerprint: request.fingerprint,
          warnings,
        });
        const revision = loaded.revision + 1 + events.length;
        const described = decision.events.map((e, i) => ({ type: e.type, data: e.data as unknown as JsonObject, streamId: loaded.streamId, revision: revision + i }));
        if (request.whatIf || decision.events.length === 0) {
          answers.push({
            kind: 'done',
            result: { commandId: context.commandId, fingerprint: request.fingerprint, events: described, position: 0, warnings, whatIf: request.whatIf, replayed: false },
          });
          continue;
        }
        const entry: Decided = { commandId: context.commandId, fingerprint: request.fingerprint, events: described, warnings, offset: events.length };
        decision.events.forEach((e, i) =>
          events.push({
            // Derived from the command id: a retry that reaches the store twice is stored once.
            id: uuidFromName(`${loaded.streamId}/${context.commandId}/${i}`),
            type: e.type,
            data: e.data as unknown as JsonObject,
            metadata,
          }),
        );
        fold.apply(decision.events);
        inBatch.set(context.commandId, entry);
        decided.push(entry);
        answers.push({ kind: 'appended', decided: entry });
      } catch (error) {
        answers.push({ kind: 'refused', error });
      }
    }
    return { answers, events, decided, fold };
  }

  /**
   * The global position of each event of the append. A store whose append took consecutive
   * positions says where they start (`firstPosition`: SQLite); a lone command needs only the last
   * one's, which every store answers; otherwise (a group on EventStoreDB, whose positions are log
   * offsets) they are read back, once for the group.
   */
  private async positionsOf(streamId: string, firstRevision: number, count: number, appended: AppendResult, all: boolean): Promise<readonly number[]> {
    if (appended.firstPosition !== undefined && appended.position === appended.firstPosition + count - 1) {
      return Array.from({ length: count }, (_, i) => appended.firstPosition! + i);
    }
    if (!all) {
      const positions = new Array<number>(count);
      positions[count - 1] = appended.position;
      return positions;
    }
    const stored = await this.store.readStream(streamId, { fromRevision: firstRevision, maxCount: count });
    if (stored.length !== count || stored.some((e, i) => e.revision !== firstRevision + i)) {
      throw new Error(`${streamId}: the events just appended at revisions ${firstRevision}-${firstRevision + count - 1} could not be read back`);
    }
    return stored.map((e) => e.position);
  }
}
