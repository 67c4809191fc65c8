import { Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import { commandFingerprint } from '../application/audit';
import { ExecuteMigrationCommand, MigrationCommandResult } from '../application/execute-migration-command';
import { ExecuteTopologyCommand, TopologyCommandResult } from '../application/execute-topology-command';
import { requireConfiguredReason } from '../application/reason-policy';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { assertWhatIf, commandRequestOf } from './command-request';
import { isMigrationCommand, parseCommandBody } from './commands/command-registry';

/**
 * `POST /api/commands/<Name>`: parse, send through the CommandBus, answer. A refusal is thrown: the
 * exception filter records it in the audit trail and answers it.
 */
@Controller('api/commands')
export class CommandsController {
  constructor(
    private readonly commandBus: CommandBus,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @Post(':name')
  @HttpCode(200)
  async execute(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<JsonObject> {
    const { name, deployment, input, context, whatIf } = commandRequestOf(request);
    assertWhatIf(request);
    const { command } = await parseCommandBody(name, input);
    requireConfiguredReason(this.config.reasonRequiredFor, name, context.reason);
    const fingerprint = commandFingerprint(name, deployment, withoutIdentity(input));
    if (isMigrationCommand(command)) {
      const result = await this.commandBus.execute<ExecuteMigrationCommand, MigrationCommandResult>(
        new ExecuteMigrationCommand(deployment, command, context, fingerprint, whatIf),
      );
      const { replayed, whatIf: _dryRun, ...body } = result;
      if (replayed) response.setHeader('Idempotent-Replayed', 'true');
      return { ...(body as unknown as JsonObject), ...(whatIf ? { whatIf: true } : {}) };
    }
    const result = await this.commandBus.execute<ExecuteTopologyCommand, TopologyCommandResult>(
      new ExecuteTopologyCommand(deployment, command, context, fingerprint, whatIf),
    );
    if (result.replayed) response.setHeader('Idempotent-Replayed', 'true');
    return {
      commandId: result.commandId,
      deployment,
      events: result.events,
      position: result.position,
      warnings: result.warnings,
      ...(whatIf ? { whatIf: true } : {}),
    };
  }
}

/** What the request asks for, without the fields that only identify or explain it. */
function withoutIdentity(input: JsonValue): JsonValue {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const { commandId: _id, reason: _reason, ...rest } = input;
  return rest;
}
