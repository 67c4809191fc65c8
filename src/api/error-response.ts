import { HttpException, HttpStatus } from '@nestjs/common';
import { AccessDenied } from '../application/authorization';
import { refusalOf } from '../application/refusals';
import { EventStoreError, JsonObject } from '../event-store/event-store';
import { ProjectionLagging, UnknownProjection } from '../../projections/runner/projection-runner';

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details: JsonObject;
}

/** The one mapping from errors to HTTP status and body, used by the exception filter and the audit of refusals. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  const refusal = refusalOf(error);
  if (refusal !== undefined) {
    return { status: refusal.status, body: { code: refusal.code, message: refusal.message, details: refusal.details } };
  }
  if (error instanceof AccessDenied) {
    return { status: error.status, body: { code: error.code, message: error.message, details: error.details } };
  }
  if (error instanceof ProjectionLagging) {
    const lag = error.statuses.map((s) => ({ name: s.name, checkpoint: s.checkpoint, state: s.state, lagEvents: s.lagEvents, lagMs: s.lagMs }));
    return { status: HttpStatus.SERVICE_UNAVAILABLE, body: { code: error.code, message: error.message, details: { minPosition: error.position, projections: lag } } };
  }
  if (error instanceof UnknownProjection) {
    return { status: HttpStatus.NOT_FOUND, body: { code: error.code, message: error.message, details: { field: 'name' } } };
  }
  if (error instanceof EventStoreError) {
    const status =
      error.code === 'WRONG_EXPECTED_VERSION' ? HttpStatus.CONFLICT : error.code === 'EVENT_STORE_UNAVAILABLE' || error.code === 'AUDIT_LOG_BROKEN' ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.INTERNAL_SERVER_ERROR;
    return { status, body: { code: error.code, message: error.message, details: {} } };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status === 400 && /JSON/i.test(error.message)) {
      return { status, body: { code: 'INVALID_JSON', message: `The body is not valid JSON: ${error.message}`, details: { field: 'body', rule: 'json' } } };
    }
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 404 ? 'NOT_FOUND' : status === 400 ? 'INVALID_INPUT' : `HTTP_${status}`;
    return { status, body: { code, message: error.message, details: {} } };
  }
  // body-parser errors reach us as plain errors carrying a status.
  const withStatus = error as { status?: unknown; type?: unknown; message?: unknown };
  if (typeof withStatus?.status === 'number' && withStatus.status >= 400 && withStatus.status < 500) {
    const code = withStatus.type === 'entity.too.large' ? 'PAYLOAD_TOO_LARGE' : withStatus.type === 'entity.parse.failed' ? 'INVALID_JSON' : 'INVALID_INPUT';
    return { status: withStatus.status, body: { code, message: String(withStatus.message), details: {} } };
  }
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, body: { code: 'INTERNAL_ERROR', message: 'Internal error; it has been logged.', details: {} } };
}
