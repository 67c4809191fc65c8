import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ALL_PROJECTIONS } from '../../projections';
import { auditTrailProjection } from '../../projections/audit-trail/audit-trail.projection';
import { entityHistory, queryAudit } from '../../projections/audit-trail/audit-trail.query';
import { createProjectionRunner, openReadModelFile, READ_MODELS_FILE } from '../../src/application/read-models.module';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

describe("the product's read models (createProjectionRunner)", () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-read-models-'));
    store = new SqliteEventStore({ dataDir: dir, pollIntervalMs: 20 });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("folds the read models' write-ahead log back into their file while live, without waiting for SQLite's automatic checkpoint, and removes it on stop", async () => {
    const runner = createProjectionRunner(store, dir);
    try {
      runner.start();
      let last = 0;
      for (let i = 0; i < 20; i++) {
        const result = await store.appendToStream(
          `topology-org${i}`,
          [{ id: randomUUID(), type: 'SipDomainRegistered', data: { domain: `d${i}.contoso.com`, isDefault: true, previousDefault: null }, metadata: { deployment: `org${i}` } }],
          { expectedRevision: 'any' },
        );
        last = result.position;
      }
      await runner.waitFor(
        ALL_PROJECTIONS.map((p) => p.name),
        last,
        5_000,
      );
      // The batches' commits wrote far fewer pages than SQLite's own checkpoint waits for (1,000 by
      // default; the writer's mark is much higher): only the checkpoint thread can have copied them.
      // Looked at without a connection (which could checkpoint by itself): the WAL index in the
      // `-shm` file holds the last frame (header, offset 16) and the frames copied back (offset 96).
      const shm = path.join(dir, `${READ_MODELS_FILE}-shm`);
      const frames = (): { last: number; copied: number } => {
        const header = fs.readFileSync(shm).subarray(0, 136);
        return { last: header.readUInt32LE(16), copied: header.readUInt32LE(96) };
      };
      let seen = frames();
      for (let attempt = 0; attempt < 100 && !(seen.last > 0 && seen.copied === seen.last); attempt++) {
        await new Promise((r) => setTimeout(r, 20));
        seen = frames();
      }
      expect(seen.last).toBeGreaterThan(0);
      expect(seen.copied).toBe(seen.last);

      // A clean stop leaves the file whole: the thread's connection closes before the writer's, and
      // the last to close folds the WAL back and removes it (closing both at once left it behind).
      await runner.stop();
      expect(fs.existsSync(path.join(dir, `${READ_MODELS_FILE}-wal`))).toBe(false);
    } finally {
      await runner.stop();
    }
  });

  it('lets the WAL file keep the size its backstop allows when it starts over: a live commit does not cut it back', async () => {
    const file = openReadModelFile(path.join(dir, READ_MODELS_FILE));
    try {
      const limit = file.db.pragma('journal_size_limit', { simple: true }) as number;
      const backstop = file.db.pragma('wal_autocheckpoint', { simple: true }) as number;
      const pageSize = file.db.pragma('page_size', { simple: true }) as number;
      // At least the backstop's frames (page and header each): the WAL reaches that much at 1,000 writes/s.
      expect(backstop).toBeGreaterThan(1000);
      expect(limit).toBeGreaterThanOrEqual(backstop * (pageSize + 24));
    } finally {
      await file.close();
    }
  });

  it("answers audit entries with their events' data and metadata read from the log, keeping no copy of them", async () => {
    const runner = createProjectionRunner(store, dir);
    try {
      runner.start();
      const data = { domain: 'contoso.com', isDefault: true };
      const metadata = { deployment: 'contoso', actor: 'alice@contoso.com', reason: 'CHG-1', occurredAt: '2026-03-02T09:00:00.000Z' };
      const { position } = await store.appendToStream('topology-contoso', [{ id: randomUUID(), type: 'SipDomainRegistered', data, metadata }], { expectedRevision: 'any' });
      await runner.waitFor([auditTrailProjection.name], position, 5_000);

      const reader = runner.reader(auditTrailProjection.name);
      const [entry] = queryAudit(reader, { deployment: 'contoso' }).entries;
      expect(entry).toMatchObject({ position, actor: 'alice@contoso.com', reason: 'CHG-1', data, metadata });
      expect(entityHistory(reader, 'contoso', 'sipDomain', 'contoso.com')).toEqual([entry]);

      const file = new Database(path.join(dir, READ_MODELS_FILE), { readonly: true });
      try {
        const [table] = file.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'audit_trail_g%'`).pluck().all() as string[];
        const columns = file.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[];
        expect(columns).toContain('actor');
        expect(columns).not.toContain('data');
        expect(columns).not.toContain('metadata');
      } finally {
        file.close();
      }
    } finally {
      await runner.stop();
    }
  });
});
