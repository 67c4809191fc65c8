import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EVENT_STORE, EventStore, JsonObject } from '../event-store/event-store';
import { auditMetadata, CommandContext } from './audit';
import type { AccessDenied } from './authorization';
import { ACCESS_DENIED, accessDeniedStreamId } from './streams';

/** A denied attempt: who (or which credential), what, from where, and why. */
export interface DeniedAttempt {
  readonly deployment: string;
  /** The verified principal's name (a 403), or null when nobody was recognised (a 401). */
  readonly principal: string | null;
  /** The first 12 hex digits of the presented credential's SHA-256; null when none was presented. */
  readonly credentialFingerprint: string | null;
  /** `METHOD path` as the request had it. */
  readonly route: string;
  readonly method: string;
  readonly command: string | null;
  readonly denial: AccessDenied;
  readonly context: CommandContext;
}

/**
 * Records every denied attempt (401, 403) as `AccessDenied` in `access_denied-<deployment>`: the
 * audit trail and compliance reports list them beside refused commands. Never a credential, only
 * its fingerprint.
 */
@Injectable()
export class AccessDeniedRecorder {
  private readonly logger = new Logger('Audit');

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async record(attempt: DeniedAttempt): Promise<void> {
    const { denial } = attempt;
    const data: JsonObject = {
      principal: attempt.principal,
      credentialFingerprint: attempt.credentialFingerprint,
      route: attempt.route,
      method: attempt.method,
      command: attempt.command,
      clientAddress: attempt.context.clientAddress,
      status: denial.status,
      reason: denial.reason,
      deployment: attempt.deployment,
      error: { code: denial.code, message: denial.message, details: denial.details },
    };
    try {
      await this.store.appendToStream(
        accessDeniedStreamId(attempt.deployment),
        [{ id: randomUUID(), type: ACCESS_DENIED, data, metadata: auditMetadata(attempt.context, { deployment: attempt.deployment, command: attempt.command }) }],
        { expectedRevision: 'any' },
      );
    } catch (error) {
      // The caller still gets its 401/403; losing the record is logged, never hidden.
      this.logger.error(`could not record a denied ${attempt.route}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
