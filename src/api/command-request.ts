import type { Request } from 'express';
import { commandIdFrom, CommandContext } from '../application/audit';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN, UNREADABLE_DEPLOYMENT } from '../application/streams';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { InvalidInput } from './commands/input-errors';
import { principalOf, requestContext } from './door';

/** What a `POST /api/commands/<Name>` asks for and who asks, read once from the request. */
export interface CommandRequest {
  readonly name: string;
  readonly deployment: string;
  /** The body, with the `X-Reason` header as its `reason` when the body has none. */
  readonly input: JsonValue;
  readonly context: CommandContext;
  readonly whatIf: boolean;
}

const KEY = Symbol('commandRequest');

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function header(request: Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseWhatIf(value: unknown): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new InvalidInput(`whatIf must be true or false (got ${JSON.stringify(value)})`, { field: 'whatIf', rule: 'schema' });
}

/**
 * Reads the command request (once per request: the controller and, for refusals, the exception
 * filter see the same command id and time). A request whose body could not even be parsed still
 * gets one, so that its refusal is recorded like any other.
 */
export function commandRequestOf(request: Request): CommandRequest {
  const cached = (request as unknown as Record<symbol, CommandRequest | undefined>)[KEY];
  if (cached) return cached;
  const body: unknown = request.body;
  const loose = isObject(body) ? body : {};
  const reasonHeader = header(request, 'x-reason');
  const input: JsonValue = isObject(body) && body['reason'] === undefined && reasonHeader ? { ...body, reason: reasonHeader } : ((body ?? null) as JsonValue);
  const commandId = commandIdFrom(typeof loose['commandId'] === 'string' ? loose['commandId'] : undefined, header(request, 'idempotency-key'));
  const reason = isObject(input) && typeof input['reason'] === 'string' ? input['reason'] : null;
  const rawDeployment = typeof loose['deployment'] === 'string' ? loose['deployment'].toLowerCase() : DEFAULT_DEPLOYMENT;
  const whatIfParam = request.query['whatIf'];
  let whatIf = false;
  try {
    whatIf = parseWhatIf(whatIfParam);
  } catch {
    // Reported by the controller (parseWhatIf again); for the record it is not a dry run.
  }
  const parsed: CommandRequest = {
    name: String(request.params['name'] ?? request.path.split('/').pop() ?? ''),
    deployment: DEPLOYMENT_PATTERN.test(rawDeployment) ? rawDeployment : UNREADABLE_DEPLOYMENT,
    input,
    whatIf,
    // The actor is the verified principal of the request, never anything the body says.
    context: { ...requestContext(request, principalOf(request), commandId), reason },
  };
  (request as unknown as Record<symbol, CommandRequest>)[KEY] = parsed;
  return parsed;
}

/** Throws the `whatIf` parameter's error, if it has one. */
export function assertWhatIf(request: Request): void {
  parseWhatIf(request.query['whatIf']);
}

export const COMMAND_ROUTE = /^\/api\/commands\/[^/]+$/;
