import { Refusal } from '../common/refusal';
import type { JsonObject } from '../event-store/event-store';

/**
 * A refusal as a client sees it: the status its category maps to (invalid → 400, not_found → 404,
 * conflict → 409) and the `{ code, message, details }` body. The one mapping of refusals, used by
 * the API's exception filter and by the CLI when it checks a command's body before sending it.
 */
export interface RefusalResponse {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly details: JsonObject;
}

const CATEGORY_STATUS = { invalid: 400, not_found: 404, conflict: 409 } as const;

/** The response of a refusal (the domain's or the application's); undefined for an error that refuses nothing (a fault). */
export function refusalOf(error: unknown): RefusalResponse | undefined {
  if (error instanceof Refusal) {
    return { status: CATEGORY_STATUS[error.category], code: error.code, message: error.message, details: error.details };
  }
  return undefined;
}
