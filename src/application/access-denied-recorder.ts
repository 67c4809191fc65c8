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

/** How long the repeats of one denial (same client address, principal, route, reason, deployment) are gathered into one event. */
export const DENIAL_WINDOW_MS = 60_000;
/** At most this many denials gathered at once; beyond it, the oldest window is recorded early. */
const MAX_WINDOWS = 10_000;

interface Window {
  readonly openedAt: number;
  /** What its repeats share but the deployment, and the deployment it is for (`*`: any). */
  readonly base: string;
  readonly deployment: string;
  /** The repeats since the window's first denial (which was recorded when it happened). */
  repeats?: { readonly first: DeniedAttempt; attempts: number; lastAt: string; readonly deployments: Set<string> };
}

/** How many of the deployments the repeats named an aggregated event lists (and how many there were in all). */
const MAX_LISTED_DEPLOYMENTS = 20;
/** A principal's denials are recorded apart for this many deployments at once; beyond, together. */
const MAX_DEPLOYMENT_WINDOWS = 8;

/**
 * Records every denied attempt (401, 403) as `AccessDenied` in `access_denied-<deployment>`: the
 * audit trail and compliance reports list them beside refused commands. Never a credential, only
 * its fingerprint.
 *
 * Denials are aggregated so that nobody can grow the log without bound: the first denial of a
 * (client address, principal, route, reason; and deployment, for a principal's first few at once) is recorded when it happens; its repeats
 * within {@link DENIAL_WINDOW_MS} become one more event when the window closes, with `attempts`
 * (how many) and `firstOccurredAt`/`lastOccurredAt`. Every event has these fields; an event without
 * them (recorded before) stands for one attempt. Windows still open when the server stops are recorded then.
 */
@Injectable()
export class AccessDeniedRecorder implements OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private readonly windows = new Map<string, Window>();
  /** The deployments with a window of their own, by what their denials share but the deployment. */
  private readonly deploymentsOf = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.timer = setInterval(() => void this.closeWindows(Date.now() - DENIAL_WINDOW_MS), 1_000);
    this.timer.unref();
  }

  /** Records the attempt, or counts it in its open window; resolves once whatever it appends is stored. */
  async record(attempt: DeniedAttempt): Promise<void> {
    if (this.stopped) return this.append(attempt, 1, attempt.context.occurredAt);
    const base = baseKey(attempt);
    const deployment = this.windowDeployment(base, attempt);
    const key = JSON.stringify([base, deployment]);
    const window = this.windows.get(key);
    if (window !== undefined) {
      if (window.repeats === undefined) window.repeats = { first: attempt, attempts: 1, lastAt: attempt.context.occurredAt, deployments: new Set([attempt.deployment]) };
      else {
        window.repeats.attempts += 1;
        window.repeats.lastAt = attempt.context.occurredAt;
        window.repeats.deployments.add(attempt.deployment);
      }
      return;
    }
    if (this.windows.size >= MAX_WINDOWS) {
      const [oldest] = this.windows.keys();
      if (oldest !== undefined) void this.closeWindow(oldest);
    }
    this.windows.set(key, { openedAt: Date.now(), base, deployment });
    if (deployment !== ANY) this.deploymentsOf.set(base, (this.deploymentsOf.get(base) ?? new Set()).add(deployment));
    return this.append(attempt, 1, attempt.context.occurredAt);
  }

  /**
   * Which deployment's window an attempt counts in. Nobody's denials (a 401) are one window whatever
   * deployment they name: it is whatever the caller wrote. A principal's are recorded per deployment
   * for up to MAX_DEPLOYMENT_WINDOWS deployments at once, then together: a new deployment name per
   * request makes no new record.
   */
  private windowDeployment(base: string, attempt: DeniedAttempt): string {
    if (attempt.principal === null) return ANY;
    const open = this.deploymentsOf.get(base);
    return open === undefined || open.has(attempt.deployment) || open.size < MAX_DEPLOYMENT_WINDOWS ? attempt.deployment : ANY;
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
    const window = this.windows.get(key);
    const repeats = window?.repeats;
    this.windows.delete(key);
    if (window !== undefined && window.deployment !== ANY) {
      const open = this.deploymentsOf.get(window.base);
      open?.delete(window.deployment);
      if (open?.size === 0) this.deploymentsOf.delete(window.base);
    }
    return repeats === undefined ? Promise.resolve() : this.append(repeats.first, repeats.attempts, repeats.lastAt, repeats.deployments);
  }

  private async append(attempt: DeniedAttempt, attempts: number, lastAt: string, deployments?: ReadonlySet<string>): Promise<void> {
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
      // Repeats that named other deployments are counted here, under the first one's stream: a new
      // deployment name per request makes no new record.
      ...(deployments !== undefined && (deployments.size > 1 || !deployments.has(attempt.deployment))
        ? { deployments: [...deployments].sort().slice(0, MAX_LISTED_DEPLOYMENTS), deploymentCount: deployments.size }
        : {}),
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

/** A window for denials that name any deployment; its aggregated event lists the deployments named. */
const ANY = '*';

/** What repeats of a denial share, but the deployment (see `windowDeployment`). */
function baseKey(attempt: DeniedAttempt): string {
  return JSON.stringify([attempt.context.clientAddress, attempt.principal, attempt.routeKey, attempt.denial.status, attempt.denial.reason]);
}
