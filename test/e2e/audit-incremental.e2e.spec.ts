import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventHash } from '../../src/event-store/chain-hash';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer } from '../support/server';

jest.setTimeout(120_000);

type Health = { auditLog: string; audit: { lastVerified?: { at: string; position: number; fromPosition: number; events: number; wholeLogAt: string } } };

/**
 * The background verification goes on from where the last one ended (every AUDIT_VERIFY_INTERVAL),
 * instead of reading the whole log again; the full verification on demand still finds an edit made
 * before that point, on the real server and its real SQLite file.
 */
describe('the background audit verification is incremental', () => {
  let root: string;
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-incremental-'));
    dataDir = path.join(root, 'data');
    const keyFile = path.join(root, 'audit.pem');
    const made = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'keys', 'create', keyFile], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, encoding: 'utf8' });
    expect(made.status).toBe(0);
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: path.join(root, 'witness.ndjson'), AUDIT_VERIFY_INTERVAL: '1s' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const health = async (): Promise<Health> => (await (await fetch(`${server.url}/health`)).json()) as Health;
  const verifiedPast = async (position: number): Promise<Health> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const h = await health();
      if ((h.audit.lastVerified?.fromPosition ?? 0) > 0 && h.audit.lastVerified!.position >= position) return h;
      if (Date.now() > deadline) throw new Error(`not verified past ${position}: ${JSON.stringify(h)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('verifies each interval from the last verified position only; GET /api/audit/verify still reads it all and finds an edit before it', async () => {
    const first = await command(server.url, 'RegisterSipDomain', { domain: 'fabrikam.com' });
    expect(first.status).toBe(200);
    const before = await verifiedPast(first.body.position);
    expect(before.auditLog).toBe('verified');
    // Went on from an earlier verification's end, not from the start of the log.
    expect(before.audit.lastVerified!.fromPosition).toBeGreaterThan(0);
    expect(before.audit.lastVerified!.fromPosition).toBeLessThanOrEqual(before.audit.lastVerified!.position);
    // It says when the whole log was last verified (at start here: the next whole pass is due within the hour).
    expect(Date.parse(before.audit.lastVerified!.wholeLogAt)).toBeLessThan(Date.parse(before.audit.lastVerified!.at));

    // An attacker edits the first event in the store file (hash recomputed, its stream relinked) while the server runs.
    const db = new Database(path.join(dataDir, 'events.sqlite'));
    const target = db.prepare('SELECT * FROM events WHERE position = 1').get() as { stream_id: string; revision: number };
    const rows = db.prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY revision').all(target.stream_id) as { position: number; stream_id: string; revision: number; type: string; data: string; metadata: string }[];
    let previous: string | null = null;
    for (const row of rows) {
      const data = JSON.parse(row.data) as Record<string, unknown>;
      if (row.position === 1) data['domain'] = 'attacker.example';
      const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
      delete metadata['hash'];
      metadata['prevHash'] = previous;
      metadata['hash'] = eventHash(row.stream_id, row.revision, row.type, data as never, metadata as never);
      db.prepare('UPDATE events SET data = ?, metadata = ? WHERE position = ?').run(JSON.stringify(data), JSON.stringify(metadata), row.position);
      previous = metadata['hash'] as string;
    }
    db.close();
    // A later command keeps the incremental walks going past the edit (its stream is another deployment's).
    const later = await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com', deployment: 'lab' });
    expect(later.status).toBe(200);
    await verifiedPast(later.body.position);

    const verdict = await fetch(`${server.url}/api/audit/verify`, { headers: bearer() }).then((r) => r.text());
    expect(JSON.parse(/event: verdict\ndata: (.*)\n/.exec(verdict)![1]!)).toMatchObject({ ok: false, broken: { problem: 'checkpoint_mismatch', position: 1 } });
    expect((await health()).auditLog).toBe('broken');
  });
});
