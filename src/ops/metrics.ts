import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { driftProjection } from '../../projections/drift/drift.projection';
import { driftCounts } from '../../projections/drift/drift.query';
import type { ReadModels, ProjectionStatus } from '../../projections/runner/projection-runner';
import type { EventStore } from '../event-store/event-store';

/** Seconds: command latency buckets, from a cached replay (~1 ms) to a slow disk (10 s). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** Errors that are answers (a conflict, an absent stream), not faults of the store. */
const NOT_FAULTS = new Set(['WRONG_EXPECTED_VERSION', 'STREAM_NOT_FOUND']);
const COMMAND_PATH = /^\/api\/commands\/([A-Za-z]{1,64})$/;

/**
 * The service's Prometheus metrics, one registry per application (the CLI may run one in-process
 * beside tests). Served by `GET /metrics` (see `metrics.controller.ts`).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly commands: Counter<'command' | 'outcome' | 'code'>;
  private readonly commandSeconds: Histogram<'command' | 'outcome'>;
  private readonly appendBatch: Histogram<'stream_kind'>;
  private readonly storeErrors: Counter<'operation' | 'code'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpSeconds: Histogram<'method' | 'route'>;

  /** `commandNames`: the commands the API knows; any other name is counted as `unknown` (a client cannot grow the series). */
  constructor(private readonly commandNames: ReadonlySet<string>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.commands = new Counter({
      name: 'topo_commands_total',
      help: 'Commands by name and outcome (accepted, refused with its code, failed)',
      labelNames: ['command', 'outcome', 'code'],
      registers,
    });
    this.commandSeconds = new Histogram({
      name: 'topo_command_duration_seconds',
      help: 'Time from a command request arriving to its answer',
      labelNames: ['command', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.appendBatch = new Histogram({
      name: 'topo_append_batch_events',
      help: 'Events per append to the event store',
      labelNames: ['stream_kind'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'topo_event_store_errors_total',
      help: 'Event store operations that failed (conflicts and absent streams are answers, not counted)',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'topo_http_requests_total',
      help: 'HTTP requests by method, declared route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'topo_http_request_duration_seconds',
      help: 'HTTP request durations by method and declared route',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** Express middleware counting every request by its declared route (not its path: a client cannot grow the series) and status. */
  readonly http = (request: Request, response: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    let errorCode: string | undefined;
    const json = response.json.bind(response);
    response.json = ((body: unknown) => {
      const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
      if (typeof code === 'string') errorCode = code;
      return json(body);
    }) as Response['json'];
    response.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const declared = (request.route as { path?: unknown } | undefined)?.path;
      const route = typeof declared === 'string' ? `${request.baseUrl}${declared}` : '(unmatched)';
      const method = request.method;
      this.httpRequests.inc({ method, route, status: String(response.statusCode) });
      this.httpSeconds.observe({ method, route }, seconds);
      const named = method === 'POST' ? COMMAND_PATH.exec(request.path)?.[1] : undefined;
      if (named === undefined) return;
      const command = this.commandNames.has(named) ? named : 'unknown';
      const status = response.statusCode;
      const outcome = status < 300 ? 'accepted' : status < 500 ? 'refused' : 'failed';
      this.commands.inc({ command, outcome, code: outcome === 'accepted' ? '' : (errorCode ?? `HTTP_${status}`) });
      this.commandSeconds.observe({ command, outcome }, seconds);
    });
    next();
  };

  /** The store, counting each append's size and every failed operation. */
  instrumentStore(store: EventStore): EventStore {
    const metrics = this;
    return new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function' || property === 'subscribeToAll' || property === 'constructor') {
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
        const operation = String(property);
        return (...args: unknown[]) => {
          if (operation === 'appendToStream') {
            const [stream, events] = args as [string, readonly unknown[]];
            metrics.appendBatch.observe({ stream_kind: streamKind(stream) }, events.length);
          }
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            return result.catch((error: unknown) => {
              metrics.countStoreError(operation, error);
              throw error;
            });
          }
          return result;
        };
      },
    });
  }

  private countStoreError(operation: string, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    const name = typeof code === 'string' ? code : 'ERROR';
    if (!NOT_FAULTS.has(name)) this.storeErrors.inc({ operation, code: name });
  }

  /**
   * Gauges read from the projection runner when scraped: each projection's checkpoint, lag and rebuild
   * progress; observations and open drift per deployment. prom-client collects a scrape's metrics side
   * by side, so each gauge reads its value in its own collect(): the runner's gauges await one
   * snapshot of the runner's statuses, taken by the first of them a scrape collects and shared by the
   * others of that scrape (never the values of an earlier scrape).
   */
  watchProjections(runner: ReadModels): void {
    const registers = [this.registry];
    // prom-client calls every metric's collect() in one synchronous pass per scrape: the snapshot is
    // shared within that pass only, so a scrape never reuses one taken before it began.
    let pending: Promise<readonly ProjectionStatus[]> | undefined;
    const snapshot = (): Promise<readonly ProjectionStatus[]> => {
      if (pending === undefined) {
        pending = runner.statuses();
        queueMicrotask(() => {
          pending = undefined;
        });
      }
      return pending;
    };
    const perProjection = (read: (s: ProjectionStatus) => number | undefined) =>
      async function collect(this: Gauge<'projection'>): Promise<void> {
        const statuses = await snapshot();
        this.reset();
        for (const s of statuses) {
          const value = read(s);
          if (value !== undefined) this.set({ projection: s.name }, value);
        }
      };
    new Gauge({
      name: 'topo_event_store_head_position',
      help: 'Position of the last event in the log',
      registers,
      async collect() {
        this.set((await snapshot())[0]?.headPosition ?? 0);
      },
    });
    new Gauge({ name: 'topo_projection_checkpoint', help: 'Last event position applied by the serving build', labelNames: ['projection'], registers, collect: perProjection((s) => s.checkpoint) });
    new Gauge({ name: 'topo_projection_lag_events', help: 'Events committed but not yet applied', labelNames: ['projection'], registers, collect: perProjection((s) => s.lagEvents) });
    new Gauge({
      name: 'topo_projection_lag_seconds',
      help: 'Age of the oldest event not yet applied (0 when caught up)',
      labelNames: ['projection'],
      registers,
      collect: perProjection((s) => s.lagMs / 1000),
    });
    new Gauge({
      name: 'topo_projection_failed',
      help: '1 when the projection stopped on an event it cannot apply',
      labelNames: ['projection'],
      registers,
      collect: perProjection((s) => (s.state === 'failed' ? 1 : 0)),
    });
    new Gauge({
      name: 'topo_projection_rebuild_progress_ratio',
      help: 'A running rebuild: its checkpoint over the head position (absent when none runs)',
      labelNames: ['projection'],
      registers,
      collect: perProjection((s) => (s.rebuild ? (s.headPosition > 0 ? Math.min(1, s.rebuild.checkpoint / s.headPosition) : 1) : undefined)),
    });
    // Read when it is collected, from the drift read model (synchronous).
    const drift = (which: 'open' | 'observations') =>
      function collect(this: Gauge): void {
        this.reset();
        for (const [deployment, count] of driftCounts(runner.reader(driftProjection.name))) this.set({ deployment }, count[which]);
      };
    new Gauge({ name: 'topo_observations', help: 'Observations of the real deployment recorded, per deployment', labelNames: ['deployment'], registers, collect: drift('observations') });
    new Gauge({ name: 'topo_drift_open', help: 'Drift items open (found by an observation, neither adopted nor gone), per deployment', labelNames: ['deployment'], registers, collect: drift('open') });
  }
}

/** A stream's kind (`topology`, `migration`, `tokens`, ...): its name up to the first dash, never a client's text. */
function streamKind(stream: string): string {
  const kind = /^[a-z$][a-z-]*?(?=-|$)/.exec(stream)?.[0] ?? 'other';
  return kind.length <= 32 ? kind : 'other';
}
