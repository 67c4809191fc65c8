import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Projection } from '../../projections/runner/projection';
import { type BatchTiming, ProjectionRunner } from '../../projections/runner/projection-runner';
import { openReadModelDatabase } from '../../projections/runner/read-model-store';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

/** Counts events per stream; `Poison` events make it throw. */
function counter(version: number, poison = false): Projection {
  return {
    name: 'counter',
    version,
    tables: [{ name: 'counts', key: ['stream_id'], columns: ['count', 'version'], temporal: true }],
    project(event, view) {
      if (poison && event.type === 'Poison') throw new Error('cannot count poison');
      const current = view.get('counts', { stream_id: event.streamId });
      return [{ kind: 'put', table: 'counts', row: { stream_id: event.streamId, count: Number(current?.['count'] ?? 0) + 1, version } }];
    },
  };
}

const until = async (check: () => boolean, timeoutMs = 5000): Promise<void> => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('projection runner', () => {
  let dir: string;
  let store: SqliteEventStore;
  let db: Database.Database;
  const runners: ProjectionRunner[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-runner-'));
    store = new SqliteEventStore({ dataDir: dir, pollIntervalMs: 20 });
    db = openReadModelDatabase(path.join(dir, 'read-models.sqlite'));
  });
  afterEach(async () => {
    runners.splice(0).forEach((r) => r.stop());
    db.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (projection: Projection, batchSize = 100): ProjectionRunner => {
    const runner = new ProjectionRunner(store, db, [projection], { batchSize });
    runners.push(runner);
    runner.start();
    return runner;
  };
  const append = (stream: string, n: number, type = 'Counted') =>
    store.appendToStream(stream, Array.from({ length: n }, () => ({ id: randomUUID(), type, data: {} })), { expectedRevision: 'any' });
  const counts = (runner: ProjectionRunner) => Object.fromEntries(runner.reader('counter').rows('counts').map((r) => [r['stream_id'], r['count']]));

  it('catches up, goes live, and waits for a position (read your writes)', async () => {
    await append('a-1', 250);
    const runner = run(counter(1));
    const written = await append('b-1', 3);
    await runner.waitFor(['counter'], written.position, 5000);
    expect(counts(runner)).toEqual({ 'a-1': 250, 'b-1': 3 });
    const [status] = await runner.statuses();
    expect(status).toMatchObject({ name: 'counter', checkpoint: written.position, headPosition: written.position, lagEvents: 0, state: 'live' });
  });

  it("reports each committed batch's timing: every event in one batch, catch-up and live told apart", async () => {
    await append('a-1', 250);
    const runner = new ProjectionRunner(store, db, [counter(1)], { batchSize: 100 });
    runners.push(runner);
    const batches: BatchTiming[] = [];
    runner.batches.subscribe((batch) => batches.push(batch));
    runner.start();
    await runner.waitFor(['counter'], 250, 5000);
    // The build turns live once it has seen the head after its last catch-up batch.
    while ((await runner.statuses())[0]!.state !== 'live') await new Promise((r) => setTimeout(r, 10));
    const written = await append('b-1', 3);
    await runner.waitFor(['counter'], written.position, 5000);
    expect(batches.filter((b) => !b.live).reduce((n, b) => n + b.events, 0)).toBe(250);
    expect(batches.filter((b) => b.live).reduce((n, b) => n + b.events, 0)).toBe(3);
    for (const batch of batches) {
      expect(batch.builds).toBe(1);
      expect(batch.applyMs).toBeGreaterThanOrEqual(0);
      expect(batch.commitMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('stores changes and checkpoint together: a restart resumes from the checkpoint without repeating an event', async () => {
    await append('a-1', 120);
    const first = run(counter(1), 50);
    await first.waitFor(['counter'], 120, 5000);
    first.stop();
    await append('a-1', 30);
    const second = run(counter(1), 50);
    await second.waitFor(['counter'], 150, 5000);
    expect(counts(second)).toEqual({ 'a-1': 150 });
  });

  it('stops at an event its projection throws on, names it, and does not skip it', async () => {
    await append('a-1', 5);
    const poisoned = await append('p-1', 1, 'Poison');
    await append('a-1', 5);
    const runner = run(counter(1, true), 3);
    await until(() => runner.checkpoint('counter') >= poisoned.position - 1);
    await new Promise((r) => setTimeout(r, 100));
    const [status] = await runner.statuses();
    expect(status).toMatchObject({
      state: 'failed',
      checkpoint: poisoned.position - 1,
      failedAt: { position: poisoned.position, streamId: 'p-1', type: 'Poison', error: 'cannot count poison' },
    });
    expect(counts(runner)).toEqual({ 'a-1': 5 });
    await expect(runner.waitFor(['counter'], poisoned.position, 200)).rejects.toMatchObject({ code: 'PROJECTION_LAGGING' });
    runner.stop();

    // A fixed version rebuilds from the start, into new tables, past the event.
    const fixed = run(counter(2, false), 3);
    await until(() => fixed.checkpoint('counter') >= poisoned.position + 5);
    expect(counts(fixed)).toEqual({ 'a-1': 10, 'p-1': 1 });
  });

  it('a new version rebuilds into new tables while the old build answers, then takes over and drops the old tables', async () => {
    await append('a-1', 40);
    const v1 = run(counter(1));
    await v1.waitFor(['counter'], 40, 5000);
    v1.stop();
    await append('a-1', 2000);
    const tablesBefore = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'counter_g%'`).pluck().all();
    expect(tablesBefore).toEqual(['counter_g1_counts']);

    const v2 = new ProjectionRunner(store, db, [counter(2)], { batchSize: 100 });
    runners.push(v2);
    // Before it starts, the old build answers (at its old checkpoint).
    expect(v2.reader('counter').rows('counts')).toEqual([{ stream_id: 'a-1', count: 40, version: 1 }]);
    const [before] = await v2.statuses();
    expect(before).toMatchObject({ generation: 1, version: 1, rebuild: { generation: 2, version: 2 } });
    v2.start();
    await until(() => v2.reader('counter').rows('counts')[0]?.['version'] === 2);
    expect(counts(v2)).toEqual({ 'a-1': 2040 });
    const [after] = await v2.statuses();
    expect(after).toMatchObject({ generation: 2, version: 2, rebuild: null, state: 'live' });
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'counter_g%'`).pluck().all()).toEqual(['counter_g2_counts']);
  });

  it('rebuilds on request from the start and keeps answering meanwhile', async () => {
    await append('a-1', 500);
    const runner = run(counter(1));
    await runner.waitFor(['counter'], 500, 5000);
    const generation = await runner.rebuild('counter');
    expect(generation).toBe(2);
    expect(counts(runner)).toEqual({ 'a-1': 500 });
    await until(() => runner.checkpoint('counter') === 500 && runner.reader('counter') !== undefined && (db.prepare(`SELECT generation FROM projection_active WHERE name = 'counter'`).get() as { generation: number }).generation === 2);
    expect(counts(runner)).toEqual({ 'a-1': 500 });
  });

  it('keeps a retired build\'s tables until told (queries in another thread), and drops any a stop left behind at the next start', async () => {
    await append('a-1', 50);
    const tables = (): unknown[] => db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'counter_g%' ORDER BY name`).pluck().all();
    const first = run(counter(1));
    await first.waitFor(['counter'], 50, 5000);
    const retired: [string, number][] = [];
    first.retireLater((name, generation) => retired.push([name, generation]));
    await first.rebuild('counter');
    await until(() => retired.length === 1);
    expect(retired).toEqual([['counter', 1]]);
    expect(first.serving('counter')).toMatchObject({ generation: 2, state: 'live' });
    // The switch is committed, the old tables are still there for whoever may be reading them.
    expect(tables()).toEqual(['counter_g1_counts', 'counter_g2_counts']);
    expect(() => first.dropRetired('counter', 2)).toThrow(/not retired/);
    first.stop();

    // Stopped before it was told to drop them (a crash): the next start does.
    const second = run(counter(1));
    expect(tables()).toEqual(['counter_g2_counts']);
    expect(counts(second)).toEqual({ 'a-1': 50 });
  });

  it('answers a wait still behind when the runner stops with PROJECTION_LAGGING at once, not at its timeout', async () => {
    await append('a-1', 10);
    const runner = run(counter(1));
    await runner.waitFor(['counter'], 10, 5000);
    const started = Date.now();
    const waiting = runner.waitFor(['counter'], 11, 60_000);
    void runner.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'PROJECTION_LAGGING', position: 11 });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rebuild then start (as topo projections rebuild does) reads the log once per build, and counts every event once', async () => {
    await append('a-1', 300);
    const first = run(counter(1));
    await first.waitFor(['counter'], 300, 5000);
    first.stop();
    let subscriptions = 0;
    const subscribeToAll = store.subscribeToAll.bind(store);
    const counting = Object.assign(Object.create(store) as SqliteEventStore, {
      subscribeToAll: (...args: Parameters<SqliteEventStore['subscribeToAll']>) => {
        subscriptions += 1;
        return subscribeToAll(...args);
      },
    });
    const runner = new ProjectionRunner(counting, db, [counter(1)], { batchSize: 50 });
    runners.push(runner);
    await runner.rebuild('counter');
    runner.start();
    await until(() => (db.prepare(`SELECT generation FROM projection_active WHERE name = 'counter'`).get() as { generation: number }).generation === 2);
    expect(subscriptions).toBe(2); // the rebuild's and the serving build's, not the rebuild's twice
    await append('a-1', 20);
    await until(() => runner.checkpoint('counter') >= 320);
    expect(counts(runner)).toEqual({ 'a-1': 320 });
  });
});
