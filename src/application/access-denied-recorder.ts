import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EVENT_STORE, EventStore, JsonObject } from '../event-store/event-store';
import { auditMetadata, CommandContext } from './audit';
import type { AccessDenied } from './authorization';
import { ACCESS_DENIED, accessDeniedStreamId } from './streams';
import { withSchemaVersion } from '../domain/events';

/** A denied attempt: who (or which credential), what, from where, and why. */
export interface DeniedAttempt {
  readonly deployment: string;
  /** The verified principal's name (a 403), or null when nobody was recognised (a 401). */
  readonly principal: string | null;
  /** The first 12 hex digits of the presented credential's SHA-256; null when none was presented. */
  readonly credentialFingerprint: string | null;
  /** `METHOD path` as the request had it. */
  readonly route: string;
  /** The route it is counted under when denials are aggregated: the policy's `METHOD path`, never the path as sent. */
  readonly routeKey: string;
  readonly method: string;
  readonly command: string | null;
  readonly denial: AccessDenied;
  readonly context: CommandContext;
}

/** How long the repeats of one denial (same client address, principal, route, reason; deployment for a 403) are gathered into one event. */
export const DENIAL_WINDOW_MS = 60_000;
/** At most this many denials gathered at once; beyond it, the oldest window is recorded early. */
const MAX_WINDOWS = 10_000;

interface Window {
  readonly openedAt: number;
  /** The repeats since the window's first denial (which was recorded when it happened). */
  repeats?: { readonly first: DeniedAttempt; attempts: number; lastAt: string };
}

/**
 * Records every denied attempt (401, 403) as `AccessDenied` in `access_denied-<deployment>`: the
 * audit trail and compliance reports list them beside refused commands. Never a credential, only
 * its fingerprint.
 *
 * Denials are aggregated so that nobody can grow the log without bound: the first denial of a
 * (client address, principal, route, reason; and deployment for a 403) is recorded when it happens; its repeats
 * within {@link DENIAL_WINDOW_MS} become one more event when the window closes, with `attempts`
 * (how many) and `firstOccurredAt`/`lastOccurredAt`. Every event has these fields; an event without
 * them (recorded before) stands for one attempt. Windows still open when the server stops are recorded then.
 */
@Injectable()
export class AccessDeniedRecorder implements OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.timer = setInterval(() => void this.closeWindows(Date.now() - DENIAL_WINDOW_MS), 1_000);
    this.timer.unref();
  }

  /** Records the attempt, or counts it in its open window; resolves once whatever it appends is stored. */
  async record(attempt: DeniedAttempt): Promise<void> {
    if (this.stopped) return this.append(attempt, 1, attempt.context.occurredAt);
    const key = windowKey(attempt);
    const window = this.windows.get(key);
    if (window !== undefined) {
      if (window.repeats === undefined) window.repeats = { first: attempt, attempts: 1, lastAt: attempt.context.occurredAt };
      else {
        window.repeats.attempts += 1;
        window.repeats.lastAt = attempt.context.occurredAt;
      }
      return;
    }
    if (this.windows.size >= MAX_WINDOWS) {
      const [oldest] = this.windows.keys();
      if (oldest !== undefined) void this.closeWindow(oldest);
    }
    this.windows.set(key, { openedAt: Date.now() });
    return this.append(attempt, 1, attempt.context.occurredAt);
  }

  /** Records the windows still open: the store closes after this. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.closeWindows(Infinity);
  }

  /** Closes the windows opened before `openedBefore` (all of them with Infinity), oldest first. */
  private async closeWindows(openedBefore: number): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [key, window] of this.windows) {
      if (window.openedAt > openedBefore) break;
      closing.push(this.closeWindow(key));
    }
    await Promise.all(closing);
  }

  private closeWindow(key: string): Promise<void> {
    const repeats = this.windows.get(key)?.repeats;
    this.windows.delete(key);
    return repeats === undefined ? Promise.resolve() : this.append(repeats.first, repeats.attempts, repeats.lastAt);
  }

  private async append(attempt: DeniedAttempt, attempts: number, lastAt: string): Promise<void> {
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
      attempts,
      firstOccurredAt: attempt.context.occurredAt,
      lastOccurredAt: lastAt,
    };
    try {
      await this.store.appendToStream(
        accessDeniedStreamId(attempt.deployment),
        [withSchemaVersion({ id: randomUUID(), type: ACCESS_DENIED, data, metadata: auditMetadata(attempt.context, { deployment: attempt.deployment, command: attempt.command }) })],
        { expectedRevision: 'any' },
      );
    } catch (error) {
      // The caller still gets its 401/403; losing the record is logged, never hidden.
      this.logger.error(`could not record ${attempts} denied ${attempt.route}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * What repeats of a denial share. Nobody's deployment (a 401) is not part of it: it is whatever the
 * caller wrote in the query, and a new name per request would otherwise make a new record each time.
 */
function windowKey(attempt: DeniedAttempt): string {
  const deployment = attempt.principal === null ? null : attempt.deployment;
  return JSON.stringify([attempt.context.clientAddress, attempt.principal, attempt.routeKey, attempt.denial.status, attempt.denial.reason, deployment]);
}
