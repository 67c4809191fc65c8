import { InvalidInput } from '../application/commands/input-errors';
import { DEFAULT_DEPLOYMENT, DEPLOYMENT_PATTERN } from '../application/streams';

export type QueryParams = Readonly<Record<string, string | string[] | undefined>>;

/** The read options every query shares: which deployment, which moment, and a position to wait for. */
export interface ReadOptions {
  readonly deployment: string;
  readonly asOf: string | undefined;
  readonly atPosition: number | undefined;
  /** Read your writes: wait until the read models have passed this position. */
  readonly minPosition: number | undefined;
  readonly waitMs: number;
}

export const DEFAULT_WAIT_MS = 5000;
const MAX_WAIT_MS = 30_000;

export function single(params: QueryParams, name: string): string | undefined {
  const value = params[name];
  if (Array.isArray(value)) throw new InvalidInput(`${name} may be given once`, { field: name });
  return value === '' ? undefined : value;
}

/** A whole number >= 0; `what` says what it counts in the error (`a log position`, `a number of results`). */
export function position(params: QueryParams, name: string, what = 'a log position'): number | undefined {
  const value = single(params, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new InvalidInput(`${name} must be ${what} (a whole number >= 0), got '${value}'`, { field: name });
  return Number(value);
}

/** One of `values`, exactly as written there; anything else is refused, listing them. */
export function oneOf<T extends string>(params: QueryParams, name: string, values: readonly T[]): T | undefined {
  const value = single(params, name);
  if (value === undefined) return undefined;
  const known = values.find((v) => v === value);
  if (known === undefined) throw new InvalidInput(`${name} must be one of ${values.join(', ')}, got '${value}'`, { field: name });
  return known;
}

/** `true` or `false` (absent: false). */
export function flag(params: QueryParams, name: string): boolean {
  return oneOf(params, name, ['true', 'false'] as const) === 'true';
}

export function isoTime(params: QueryParams, name: string): string | undefined {
  const value = single(params, name);
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\d/.test(value) || Number.isNaN(time)) throw new InvalidInput(`${name} must be an ISO-8601 time such as 2026-11-25T18:00:00Z, got '${value}'`, { field: name });
  return new Date(time).toISOString();
}

export function readOptions(params: QueryParams): ReadOptions {
  const deployment = (single(params, 'deployment') ?? DEFAULT_DEPLOYMENT).toLowerCase();
  if (!DEPLOYMENT_PATTERN.test(deployment)) {
    throw new InvalidInput(`deployment must match ${DEPLOYMENT_PATTERN.source}, got '${deployment}'`, { field: 'deployment' });
  }
  const asOf = isoTime(params, 'asOf');
  const atPosition = position(params, 'atPosition');
  if (asOf !== undefined && atPosition !== undefined) throw new InvalidInput('give asOf or atPosition, not both', { field: 'asOf' });
  const wait = position(params, 'waitMs');
  if (wait !== undefined && wait > MAX_WAIT_MS) throw new InvalidInput(`waitMs must be at most ${MAX_WAIT_MS}`, { field: 'waitMs' });
  return { deployment, asOf, atPosition, minPosition: position(params, 'minPosition'), waitMs: wait ?? DEFAULT_WAIT_MS };
}
