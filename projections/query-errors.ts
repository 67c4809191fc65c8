import { Refusal } from '../src/common/refusal';

/**
 * A read model's query asked with an invalid parameter: answered as any invalid input
 * (`400 INVALID_INPUT`, `details: { field, rule: 'schema' }`), without the read models knowing the
 * HTTP layer.
 */
export class InvalidQuery extends Refusal {
  readonly code = 'INVALID_INPUT';
  readonly category = 'invalid';

  constructor(message: string, field: string) {
    super(message, { field, details: { rule: 'schema' } });
  }
}
