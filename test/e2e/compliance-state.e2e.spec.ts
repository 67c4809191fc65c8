import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';

/**
 * The compliance report's before → after is the entity's state (as its previous change left it, and as
 * this one leaves it), not the events' payloads: the README's seed, a migration and its rollback.
 */
describe('compliance report: before → after is the entity state', () => {
  let dataDir: string;
  let server: RunningServer;
  let report: any;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-report-state-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    const from = new Date(Date.now() - 1000).toISOString();
    await seedTopology(server.url);
    const planned = await command(server.url, 'MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-100' });
    expect(planned.status).toBe(200);
    const id: string = planned.body.migrationId;
    expect((await command(server.url, 'RunMigration', { migrationId: id })).status).toBe(200);
    const rolledBack = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'rooms missing' });
    expect(rolledBack.status).toBe(200);
    const to = new Date(Date.now() + 1000).toISOString();
    const response = await fetch(`${server.url}/api/compliance/report?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&minPosition=${rolledBack.body.position}`, { headers: bearer() });
    expect(response.status).toBe(200);
    report = await response.json();
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const rows = (eventType: string, id: string): any[] => report.changes.filter((c: any) => c.eventType === eventType && c.entity?.id === id);
  const changed = (row: any): string[] => Object.keys({ ...row.before, ...row.after }).filter((k) => JSON.stringify(row.before?.[k]) !== JSON.stringify(row.after?.[k]));

  it('StopPool of the legacy pool shows only its status change', () => {
    const [stopped] = rows('PoolStopped', 'gc.contoso.com');
    expect(stopped.before).toMatchObject({ fqdn: 'gc.contoso.com', version: 'Lync2010', status: 'Started', wellKnownSipAddress: 'sip:ocschat@contoso.com' });
    expect(changed(stopped)).toEqual(['status']);
    expect(stopped.after).toMatchObject({ version: 'Lync2010', status: 'Stopped' });
  });

  it('each change starts from the state the previous change of the same entity left', () => {
    const byEntity = new Map<string, any>();
    for (const change of report.changes) {
      if (change.entity === null) continue;
      const key = `${change.entity.kind}:${change.entity.id}`;
      if (byEntity.has(key)) expect(change.before).toEqual(byEntity.get(key).after);
      byEntity.set(key, change);
    }
    // After the rollback, the target pool starts again from the pool's state, not from another event's payload.
    const reverted = rows('PoolStartReverted', 'pcpool.contoso.com');
    expect(reverted.length).toBeGreaterThan(0);
    for (const row of reverted) expect(changed(row)).toEqual(['status']);
  });
});
