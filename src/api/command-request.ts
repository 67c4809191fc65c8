import type { Request } from 'express';
import { commandIdFrom, CommandContext } from '../application/audit';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN, UNREADABLE_DEPLOYMENT } from '../application/streams';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { InvalidInput } from '../application/commands/input-errors';
import { principalOf, requestContext } from './door';
import { QueryParams, single } from './read-options';
import { headerText } from './headers';

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


/** The query parameters a command takes; any other is refused rather than ignored. */
const COMMAND_QUERY = ['whatIf', 'deployment'] as const;

/** A query parameter's one value (`undefined` when absent); a repeated one is an array. */
function queryValue(request: Request, name: string): unknown {
  return (request.query as Record<string, unknown>)[name];
}

/** The deployment named in the query, when it is one plain, non-empty value (empty: as if absent, as on queries). */
function queryDeployment(request: Request): string | undefined {
  const value = queryValue(request, 'deployment');
  return typeof value === 'string' && value !== '' ? value : undefined;
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
  const reasonHeader = headerText(request, 'x-reason');
  const fromQuery = queryDeployment(request);
  // The deployment may be named in the query instead of the body: it then joins the body, so that it is
  // validated, fingerprinted and recorded as if it had been there (a body and a query that disagree are refused).
  const withDeployment = isObject(body) && body['deployment'] === undefined && fromQuery !== undefined ? { ...body, deployment: fromQuery } : body;
  const loose = isObject(withDeployment) ? withDeployment : {};
  const input: JsonValue =
    isObject(withDeployment) && withDeployment['reason'] === undefined && reasonHeader
      ? { ...withDeployment, reason: reasonHeader }
      : ((withDeployment ?? null) as JsonValue);
  const commandId = commandIdFrom(typeof loose['commandId'] === 'string' ? loose['commandId'] : undefined, headerText(request, 'idempotency-key'));
  const reason = isObject(input) && typeof input['reason'] === 'string' ? input['reason'] : null;
  const rawDeployment = typeof loose['deployment'] === 'string' ? loose['deployment'].toLowerCase() : DEFAULT_DEPLOYMENT;
  const whatIfParam = queryValue(request, 'whatIf');
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

/**
 * Throws what is wrong with the request's query, if anything: a parameter a command does not take
 * (`?WhatIf=true` must not be a change made for real), a repeated one, a `whatIf` that is not a
 * boolean, or a `deployment` other than the body's.
 */
export function assertCommandQuery(request: Request): void {
  for (const name of Object.keys(request.query as Record<string, unknown>)) {
    const known = COMMAND_QUERY.find((k) => k === name);
    if (known === undefined) {
      const near = COMMAND_QUERY.find((k) => k.toLowerCase() === name.toLowerCase());
      throw new InvalidInput(
        `A command takes no query parameter '${name}'${near ? ` (did you mean '${near}'?)` : ''}; it takes only ${COMMAND_QUERY.join(' and ')}. Nothing was done.`,
        { field: name, rule: 'schema' },
      );
    }
    single(request.query as QueryParams, known);
  }
  parseWhatIf(queryValue(request, 'whatIf'));
  const fromQuery = queryDeployment(request);
  const body: unknown = request.body;
  const fromBody = isObject(body) ? body['deployment'] : undefined;
  if (fromQuery !== undefined && typeof fromBody === 'string' && fromBody.toLowerCase() !== fromQuery.toLowerCase()) {
    throw new InvalidInput(`deployment is named twice and differently: '${fromBody}' in the body, '${fromQuery}' in the query`, {
      field: 'deployment',
      rule: 'schema',
    });
  }
}

export const COMMAND_ROUTE = /^\/api\/commands\/[^/]+$/;
