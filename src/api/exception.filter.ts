import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AccessDeniedRecorder } from '../application/access-denied-recorder';
import { AccessDenied } from '../application/authorization';
import { RefusalRecorder } from '../application/refusal-recorder';
import { COMMAND_ROUTE, commandRequestOf } from './command-request';
import { authenticationOf, deniedAttempt } from './door';
import { toErrorResponse } from './error-response';
import { AuditLogBroken } from '../event-store/event-store';

/** What the body parser answers for a body it could not read: its deployment cannot be known. */
const UNREADABLE_BODY = new Set(['INVALID_JSON', 'PAYLOAD_TOO_LARGE']);

/**
 * Every error leaves as `{ error: { code, message, details } }` with its status; only the unexpected
 * are logged. A refused command (anything but a dry run, a 5xx or an unknown route) is first recorded
 * in the audit trail, whatever refused it: the body parser, validation, the topology's rules, a conflict.
 * A denied attempt (401, 403) is recorded as `AccessDenied` instead; a request the door did not
 * recognise is answered 401 whatever else went wrong with it.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');
  /** A broken audit log refuses every command with 503 until it is dealt with: said once, not per request. */
  private brokenLogSaid = false;

  constructor(
    private readonly refusals: RefusalRecorder,
    private readonly denials: AccessDeniedRecorder,
  ) {}

  catch(thrown: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const authentication = authenticationOf(request);
    const error = thrown instanceof AccessDenied || authentication === undefined || authentication.ok ? thrown : authentication.denial;
    if (error instanceof AccessDenied) {
      const { status, body } = toErrorResponse(error);
      const record = deniedAttempt(request, error, !UNREADABLE_BODY.has(toErrorResponse(thrown).body.code));
      void this.denials.record(record).finally(() => void response.status(status).json({ error: body }));
      return;
    }
    const { status, body } = toErrorResponse(error);
    if (error instanceof AuditLogBroken) {
      // An expected state the server already reported (and `/health` shows), not a crash: no stack.
      if (!this.brokenLogSaid) this.logger.warn(`refusing commands with 503 AUDIT_LOG_BROKEN: ${error.message}`);
      this.brokenLogSaid = true;
    } else if (status >= 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    const send = (): void => void response.status(status).json({ error: body });
    if (request.method !== 'POST' || !COMMAND_ROUTE.test(request.path) || status >= 500) return send();
    const refused = commandRequestOf(request);
    if (refused.whatIf) return send();
    void this.refusals
      .record({ deployment: refused.deployment, command: refused.name, input: refused.input, status, error: body, context: refused.context })
      .finally(send);
  }
}
