import { Inject, Optional } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { decide, foldTopology, TopologyCommand } from '../domain';
import { EVENT_STORE, EventStore, EventToAppend, JsonObject, WrongExpectedVersion } from '../event-store/event-store';
import { auditMetadata, CommandContext, uuidFromName } from './audit';
import { ConcurrencyConflict, IdempotencyKeyReused } from './errors';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { KeyedLock } from './keyed-lock';
import { requireConfiguredReason } from './reason-policy';
import { CommandOutcome, TopologyRepository } from './topology-repository';
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

/**
 * Loads the deployment, runs the pure decider, appends with the expected revision; on a version
 * conflict (another process wrote first) it reloads and decides again.
 */
@CommandHandler(ExecuteTopologyCommand)
export class ExecuteTopologyCommandHandler implements ICommandHandler<ExecuteTopologyCommand, TopologyCommandResult> {
  private readonly lock = new KeyedLock();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly repository: TopologyRepository,
    @Optional() @Inject(CONFIG) private readonly config?: Pick<Config, 'reasonRequiredFor'>,
  ) {}

  execute(request: ExecuteTopologyCommand): Promise<TopologyCommandResult> {
    return this.lock.run(request.deployment, () => this.decideAndAppend(request));
  }

  private async decideAndAppend(request: ExecuteTopologyCommand): Promise<TopologyCommandResult> {
    const { context } = request;
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.repository.load(request.deployment);
      const earlier = loaded.commands.get(context.commandId);
      if (earlier) {
        if (earlier.fingerprint !== null && earlier.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused(context.commandId);
        const outcome = await this.repository.outcomeOf(loaded.streamId, context.commandId, earlier);
        return { ...outcome, whatIf: false, replayed: true };
      }

      // The product's own policy is the decider's; the deployment's (REASON_REQUIRED_FOR) comes after it,
      // and after the replay above: a retry of a change already made is answered, not refused.
      const decision = decide(request.command, loaded.state);
      if (this.config) requireConfiguredReason(this.config.reasonRequiredFor, request.command.type, context.reason);
      const warnings: JsonObject[] = decision.warnings.map((w) => ({ code: w.code, rule: w.rule, message: w.message }));
      const metadata = auditMetadata(context, {
        deployment: request.deployment,
        command: request.command.type,
        commandFingerprint: request.fingerprint,
        warnings,
      });
      const events = decision.events.map((e, i): EventToAppend & { data: JsonObject } => ({
        // Derived from the command id: a retry that reaches the store twice is stored once.
        id: uuidFromName(`${loaded.streamId}/${context.commandId}/${i}`),
        type: e.type,
        data: e.data as unknown as JsonObject,
        metadata,
      }));
      const described = events.map((e, i) => ({ type: e.type, data: e.data, streamId: loaded.streamId, revision: loaded.revision + 1 + i }));

      if (request.whatIf || events.length === 0) {
        return { commandId: context.commandId, fingerprint: request.fingerprint, events: described, position: 0, warnings, whatIf: request.whatIf, replayed: false };
      }
      try {
        const appended = await this.store.appendToStream(loaded.streamId, withSchemaVersions(events), {
          expectedRevision: loaded.revision < 0 ? 'no_stream' : loaded.revision,
        });
        const outcome: CommandOutcome = {
          commandId: context.commandId,
          fingerprint: request.fingerprint,
          events: described,
          position: appended.position,
          warnings,
        };
        this.repository.appended(request.deployment, foldTopology(decision.events, loaded.state), appended.nextExpectedRevision, context.commandId, {
          fingerprint: request.fingerprint,
          firstRevision: loaded.revision + 1,
          count: events.length,
          position: appended.position,
          warnings,
        });
        return { ...outcome, whatIf: false, replayed: false };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyConflict(request.deployment, attempt);
      }
    }
  }
}
