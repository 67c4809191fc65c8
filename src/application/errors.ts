import { Refusal } from '../common/refusal';

// Refusals of the application, not of a rule of the domain: they extend `Refusal`, not `DomainError`.

/** A command id (or Idempotency-Key) already used for a different request. */
export class IdempotencyKeyReused extends Refusal {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly category = 'conflict';
  constructor(commandId: string) {
    super(`Command id ${commandId} was already used for a different request; use a new Idempotency-Key for a new change.`, {
      field: 'commandId',
      details: { commandId },
    });
  }
}

/** Other writers kept winning the race for the deployment's stream. */
export class ConcurrencyConflict extends Refusal {
  readonly code = 'CONCURRENCY_CONFLICT';
  readonly category = 'conflict';
  constructor(deployment: string, attempts: number) {
    super(`Deployment ${deployment} kept changing under this command (${attempts} attempts); try again.`, {
      details: { deployment, attempts },
    });
  }
}
