import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Request, Response } from 'express';
import { commandFingerprint } from '../application/audit';
import { ExecuteMigrationCommand, MigrationCommandResult } from '../application/execute-migration-command';
import { ExecuteTopologyCommand, TopologyCommandResult } from '../application/execute-topology-command';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { assertCommandQuery, commandRequestOf } from './command-request';
import { isAdoptionCommand, isMigrationCommand, parseCommandBody } from '../application/commands/command-registry';
import { Observations } from '../application/observations/observations';

/**
 * `POST /api/commands/<Name>`: parse, send through the CommandBus, answer. A refusal is thrown: the
 * exception filter records it in the audit trail and answers it.
 */
@Controller('api/commands')
export class CommandsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly observations: Observations,
  ) {}

  @Post(':name')
  @HttpCode(200)
  async execute(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<JsonObject> {
    const { name, deployment, input, context, whatIf } = commandRequestOf(request);
    assertCommandQuery(request);
    const { command } = await parseCommandBody(name, input);
    const fingerprint = commandFingerprint(name, deployment, withoutIdentity(input));
    if (isAdoptionCommand(command)) {
      const { replayed, whatIf: _dryRun, ...body } = await this.observations.adopt(deployment, command, context, fingerprint, whatIf);
      if (replayed) response.setHeader('Idempotent-Replayed', 'true');
      return { ...(body as unknown as JsonObject), ...(whatIf ? { whatIf: true } : {}) };
    }
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
