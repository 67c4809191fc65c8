import { ArgumentsHost, Catch, ExceptionFilter, Inject, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RefusalRecorder } from '../application/refusal-recorder';
import type { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { COMMAND_ROUTE, commandRequestOf } from './command-request';
import { toErrorResponse } from './error-response';

/**
 * Every error leaves as `{ error: { code, message, details } }` with its status; only the unexpected
 * are logged. A refused command (anything but a dry run, a 5xx or an unknown route) is first recorded
 * in the audit trail, whatever refused it: the body parser, validation, the topology's rules, a conflict.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  constructor(
    private readonly refusals: RefusalRecorder,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const { status, body } = toErrorResponse(error);
    if (status >= 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    const send = (): void => void response.status(status).json({ error: body });
    if (request.method !== 'POST' || !COMMAND_ROUTE.test(request.path) || status >= 500) return send();
    const refused = commandRequestOf(request, this.config);
    if (refused.whatIf) return send();
    void this.refusals
      .record({ deployment: refused.deployment, command: refused.name, input: refused.input, status, error: body, context: refused.context })
      .finally(send);
  }
}
