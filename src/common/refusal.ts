import type { JsonValue } from './json';

/**
 * A refusal: a request that is not carried out, with a stable `code` (scripts and the CLI match on
 * it), a `category` that the API maps to a status (invalid → 400, not_found → 404, conflict → 409),
 * and `details` that go straight into the response body. The domain's refusals (`DomainError`, each
 * naming the rule of domain.md that refused) are one kind; the refusals of the application and its
 * edges (invalid input, an unknown command, a refused token, a reused idempotency key, a concurrency
 * conflict, an invalid query) are others, and extend this class directly.
 */

export type RefusalCategory = 'invalid' | 'not_found' | 'conflict';

/** Rule ids of domain.md, e.g. 'R3'. */
export type RuleId = `R${number}`;

/** JSON values only, so `details` can go straight into a response body. */
export type ErrorDetails = Readonly<Record<string, JsonValue>>;

export interface RefusalInit {
  readonly rule?: RuleId;
  readonly field?: string;
  readonly details?: ErrorDetails;
}

export abstract class Refusal extends Error {
  abstract readonly code: string;
  abstract readonly category: RefusalCategory;
  readonly rule: RuleId | undefined;
  readonly field: string | undefined;
  readonly details: ErrorDetails;

  protected constructor(message: string, init: RefusalInit = {}) {
    super(message);
    this.name = new.target.name;
    this.rule = init.rule;
    this.field = init.field;
    this.details = { ...(init.rule ? { rule: init.rule } : {}), ...(init.field ? { field: init.field } : {}), ...init.details };
  }

  /** The shape the API and the CLI print: `{ code, message, details }`. */
  toJSON(): { code: string; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}
