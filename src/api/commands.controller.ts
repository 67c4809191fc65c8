import { Body, Controller, Headers, HttpCode, Inject, Ip, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { commandFingerprint, commandIdFrom, CommandContext } from '../application/audit';
import { ExecuteTopologyCommand, TopologyCommandResult } from '../application/execute-topology-command';
import { RefusalRecorder } from '../application/refusal-recorder';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN, UNREADABLE_DEPLOYMENT } from '../application/streams';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { InvalidInput } from './commands/input-errors';
import { parseCommandBody } from './commands/command-registry';
import { toErrorResponse } from './error-response';

/** `POST /api/commands/<Name>`: parse, send through the CommandBus, answer; a refusal is recorded, then returned. */
@Controller('api/commands')
export class CommandsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly refusals: RefusalRecorder,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @Post(':name')
  @HttpCode(200)
  async execute(
    @Param('name') name: string,
    @Body() body: unknown,
    @Query('whatIf') whatIfParam: string | undefined,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('x-reason') reasonHeader: string | undefined,
    @Headers('x-correlation-id') correlationHeader: string | undefined,
    @Headers('x-causation-id') causationHeader: string | undefined,
    @Ip() clientAddress: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JsonObject> {
    const loose = isObject(body) ? body : {};
    const input: JsonValue = isObject(body) && body['reason'] === undefined && reasonHeader ? { ...body, reason: reasonHeader } : (body as JsonValue);
    const commandId = commandIdFrom(typeof loose['commandId'] === 'string' ? loose['commandId'] : undefined, idempotencyKey);
    const context: CommandContext = {
      actor: this.config.defaultActor,
      roles: ['admin'],
      authenticated: false,
      commandId,
      correlationId: correlationHeader ?? commandId,
      causationId: causationHeader ?? null,
      reason: typeof (input as JsonObject | null)?.['reason'] === 'string' ? ((input as JsonObject)['reason'] as string) : null,
      clientAddress: clientAddress ?? null,
      occurredAt: new Date().toISOString(),
    };
    const rawDeployment = typeof loose['deployment'] === 'string' ? loose['deployment'].toLowerCase() : DEFAULT_DEPLOYMENT;
    const deployment = DEPLOYMENT_PATTERN.test(rawDeployment) ? rawDeployment : UNREADABLE_DEPLOYMENT;
    let whatIf = false;
    try {
      whatIf = parseWhatIf(whatIfParam);
      const { command } = await parseCommandBody(name, input);
      const fingerprint = commandFingerprint(name, deployment, withoutIdentity(input));
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
    } catch (error) {
      if (!whatIf) {
        const { status, body: refusal } = toErrorResponse(error);
        if (status < 500) await this.refusals.record({ deployment, command: name, input: input ?? null, status, error: refusal, context });
      }
      throw error;
    }
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What the request asks for, without the fields that only identify or explain it. */
function withoutIdentity(input: JsonValue): JsonValue {
  if (!isObject(input)) return input;
  const { commandId: _id, reason: _reason, ...rest } = input;
  return rest;
}

function parseWhatIf(value: string | undefined): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new InvalidInput(`whatIf must be true or false (got '${value}')`, { field: 'whatIf', rule: 'schema' });
}
