import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { uuidFromName } from '../../src/application/audit';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import type { RecordedEvent } from '../../src/event-store/event-store';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

jest.setTimeout(180_000);

const MIGRATE = { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com' };

async function get(server: RunningServer, route: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}${route}`, { headers: bearer() });
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

/** The topology without where the log stands: what an administrator compares. */
async function topologyAt(server: RunningServer, minPosition: number): Promise<unknown> {
  const { body } = await get(server, `/api/topology?minPosition=${minPosition}`);
  const { position: _p, revision: _r, ...rest } = body;
  return rest;
}

async function readStreams(dataDir: string, ...streams: string[]): Promise<RecordedEvent[][]> {
  const store = new SqliteEventStore({ dataDir });
  try {
    return await Promise.all(streams.map((s) => store.readStream(s)));
  } finally {
    await store.close();
  }
}

describe('the seed migration over HTTP', () => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-migration-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('plans, runs step by step, keeps legacy clients reaching the data, rolls back exactly, and can migrate again', async () => {
    const head = (await get(server, '/health')).body.headPosition as number;
    const before = await topologyAt(server, head);

    // Plan only: nothing stored.
    const preview = await command(server.url, 'MigratePool', { ...MIGRATE, categories: ['Eng', 'Eng/Platform'] }, { query: 'whatIf=true' });
    expect(preview.status).toBe(200);
    expect(preview.body.plan.preconditions.every((p: { holds: boolean }) => p.holds)).toBe(true);
    expect(preview.body.plan.notMigrated.map((i: { kind: string }) => i.kind)).toEqual(expect.arrayContaining(['files', 'federation', 'flattenedCategory']));
    expect(preview.body.runbook).toContain('Import-CsPersistentChatData');
    expect((await get(server, '/health')).body.headPosition).toBe(head);

    // Recording a plan needs a reason (policy).
    const noReason = await command(server.url, 'MigratePool', MIGRATE);
    expect(noReason.status).toBe(400);
    expect(noReason.body.error).toMatchObject({ code: 'REASON_REQUIRED', details: { field: 'reason' } });

    const planned = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-100: weekend migration' });
    expect(planned.status).toBe(200);
    const id: string = planned.body.migrationId;
    expect(planned.body.status).toBe('Planned');

    // R20: one open migration per legacy pool.
    const second = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'again' });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('MIGRATION_PRECONDITIONS_FAILED');
    expect(second.body.error.details.preconditions.find((p: { id: string }) => p.id === 'noOtherMigration')).toMatchObject({ holds: false, rule: 'R20' });

    // A dry run of every step lists what the run will append, each step decided on what the ones before leave.
    const headBefore = (await readStreams(dataDir, 'topology-default'))[0]!.length;
    const dryRun = await command(server.url, 'RunMigration', { migrationId: id }, { query: 'whatIf=true' });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body).toMatchObject({ whatIf: true, steps: [1, 2, 3, 4, 5, 6, 7], position: 0 });
    expect((await readStreams(dataDir, 'topology-default'))[0]!.length).toBe(headBefore);

    const one = await command(server.url, 'RunMigration', { migrationId: id, steps: 1 }, { headers: { 'Idempotency-Key': 'chg-100-step-1' } });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ status: 'Running', steps: [1] });
    // A retry gets the first answer back, steps included, and runs nothing.
    const retried = await command(server.url, 'RunMigration', { migrationId: id, steps: 1 }, { headers: { 'Idempotency-Key': 'chg-100-step-1' } });
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.body).toEqual(one.body);
    const rest = await command(server.url, 'RunMigration', { migrationId: id });
    expect(rest.body).toMatchObject({ status: 'Completed', steps: [2, 3, 4, 5, 6, 7] });
    // The dry run listed exactly these events, in this order, in these streams at these revisions.
    const shape = (e: { type: string; streamId: string; revision: number; data: Record<string, unknown> }) =>
      [e.type, e.streamId, e.revision, e.streamId.startsWith('topology-') ? e.data : null] as const;
    expect(dryRun.body.events.map(shape)).toEqual([...one.body.events, ...rest.body.events].map(shape));

    const shown = await get(server, `/api/migrations/${id}?minPosition=${rest.body.position}`);
    expect(shown.body.status).toBe('Completed');
    expect(shown.body.steps.map((s: { state: string }) => s.state)).toEqual(Array(7).fill('completed'));
    expect(shown.body.steps[0]).toMatchObject({ completedBy: 'admin', events: [expect.objectContaining({ type: 'PoolStopped' })] });
    expect(shown.body.continuity).toMatchObject({ window: 'after', holds: true, routesTo: 'pcpool.contoso.com' });
    const runbook = await get(server, `/api/migrations/${id}/runbook`);
    expect(runbook.body).toContain("New-CsPersistentChatEndpoint -SipAddress 'sip:ocschat@contoso.com' -PersistentChatPoolFqdn 'pcpool.contoso.com'");

    // R16: legacy clients keep their address; it now reaches the pool that holds the data.
    const endpoints = await get(server, `/api/endpoints?identity=sip:ocschat@contoso.com&minPosition=${rest.body.position}`);
    expect(endpoints.body.endpoints).toEqual([expect.objectContaining({ sipAddress: 'sip:ocschat@contoso.com', poolFqdn: 'pcpool.contoso.com' })]);

    // Each step's topology events are tagged with the migration and the step.
    const [topology] = await readStreams(dataDir, 'topology-default');
    const tagged = topology!.filter((e) => e.metadata['migrationId'] === id);
    expect(tagged.map((e) => [e.type, e.metadata['migrationStep']])).toEqual([
      ['PoolStopped', 1],
      ['LegacyPoolDataImported', 3],
      ['SipPrincipalDeleted', 4],
      ['PersistentChatEndpointCreated', 5],
      ['PoolStarted', 6],
    ]);

    // R20: a later change to the target pool blocks the rollback, listed; force rolls back the rest.
    const later = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:chat2@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(later.status).toBe(200);
    const refused = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'rooms missing' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ROLLBACK_CONFLICT');
    expect(refused.body.error.details.conflicts).toEqual([
      expect.objectContaining({ type: 'PersistentChatEndpointCreated', entity: 'persistentChatPool:pcpool.contoso.com', command: 'CreateEndpoint' }),
    ]);
    const removed = await command(server.url, 'RemoveEndpoint', { identity: 'sip:chat2@contoso.com', reason: 'not needed' });
    expect(removed.status).toBe(200);
    const rollback = { migrationId: id, reason: 'rooms missing', force: true };
    const rollbackDryRun = await command(server.url, 'RollbackMigration', rollback, { query: 'whatIf=true' });
    expect(rollbackDryRun.body).toMatchObject({ whatIf: true, steps: [7, 6, 5, 4, 3, 2, 1], notCompensated: [] });
    const forced = await command(server.url, 'RollbackMigration', rollback, { headers: { 'Idempotency-Key': 'chg-100-rollback' } });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ status: 'RolledBack', steps: [7, 6, 5, 4, 3, 2, 1], notCompensated: [] });
    expect(rollbackDryRun.body.events.map(shape)).toEqual(forced.body.events.map(shape));
    const forcedAgain = await command(server.url, 'RollbackMigration', rollback, { headers: { 'Idempotency-Key': 'chg-100-rollback' } });
    expect(forcedAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(forcedAgain.body).toEqual(forced.body);
    expect(await topologyAt(server, forced.body.position)).toEqual(before);

    const rolledBack = await get(server, `/api/migrations/${id}?minPosition=${forced.body.position}`);
    expect(rolledBack.body.rollback).toMatchObject({ reason: 'rooms missing', forced: true, by: 'admin' });
    expect(rolledBack.body.steps.map((s: { state: string }) => s.state)).toEqual(Array(7).fill('compensated'));

    // A rolled-back migration can be planned and run again.
    const again = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-101: second attempt' });
    expect(again.status).toBe(200);
    expect(again.body.migrationId).not.toBe(id);
    const rerun = await command(server.url, 'RunMigration', { migrationId: again.body.migrationId });
    expect(rerun.body.status).toBe('Completed');
    const list = await get(server, `/api/migrations?minPosition=${rerun.body.position}`);
    expect(list.body.migrations.map((m: { status: string }) => m.status)).toEqual(['Completed', 'RolledBack']);

    // After decommissioning the legacy pool, rollback is refused (R20).
    const decommissioned = await command(server.url, 'DecommissionLegacyPool', { fqdn: 'gc.contoso.com', reason: 'CHG-102' });
    expect(decommissioned.status).toBe(200);
    const late = await command(server.url, 'RollbackMigration', { migrationId: again.body.migrationId, reason: 'too late' });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'MIGRATION_NOT_REVERSIBLE', details: { rule: 'R20' } });
  });

  it('a dry run of the steps is refused at the step a run would fail, and records nothing', async () => {
    const deployment = 'dryrun';
    await seedTopology(server.url, deployment);
    const id = (await command(server.url, 'MigratePool', { ...MIGRATE, deployment, reason: 'CHG-300' })).body.migrationId as string;
    // Someone deletes the well-known user by hand after the plan: step 4 (delete it) can no longer be decided.
    const rogue = await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com', deployment, reason: 'by hand' });
    expect(rogue.status).toBe(200);
    const dryRun = await command(server.url, 'RunMigration', { migrationId: id }, { query: 'whatIf=true' });
    expect(dryRun.status).toBe(409);
    expect(dryRun.body.error).toMatchObject({ code: 'MIGRATION_STEP_FAILED', details: { rule: 'R16', step: 4, dryRun: true, cause: { code: 'SIP_PRINCIPAL_NOT_FOUND' } } });
    expect(dryRun.body.error.message).toContain('would fail');
    expect(dryRun.body.error.message).toContain('Nothing was changed.');
    const shown = await get(server, `/api/migrations/${id}?deployment=${deployment}&minPosition=${rogue.body.position}`);
    expect(shown.body).toMatchObject({ status: 'Planned', nextStep: 1 });
  });

  it('an operator reports a failed step; the failed migration rolls back', async () => {
    const deployment = 'fabrikam';
    await seedTopology(server.url, deployment);
    const planned = await command(server.url, 'MigratePool', { ...MIGRATE, deployment, reason: 'CHG-200' });
    const id = planned.body.migrationId;
    await command(server.url, 'RunMigration', { migrationId: id, steps: 2 });
    const failed = await command(server.url, 'FailMigrationStep', { migrationId: id, step: 3, reason: 'Import-CsPersistentChatData: SQL timeout' });
    expect(failed.status).toBe(200);
    expect(failed.body.status).toBe('Failed');
    const run = await command(server.url, 'RunMigration', { migrationId: id });
    expect(run.status).toBe(409);
    expect(run.body.error.code).toBe('MIGRATION_STATE_INVALID');
    const back = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'import failed' });
    expect(back.body).toMatchObject({ status: 'RolledBack', steps: [2, 1] });
    const topology = await get(server, `/api/topology?deployment=${deployment}&minPosition=${back.body.position}`);
    expect(topology.body.legacyPools).toEqual([expect.objectContaining({ fqdn: 'gc.contoso.com', status: 'Started', dataMigratedTo: null })]);
  });
});

describe('a step stored without its record (a crash between the two)', () => {
  it('is recorded before a failure report, and a rollback undoes it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-migration-orphan-'));
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      await seedTopology(server.url);
      const id = (await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-500' })).body.migrationId as string;
      // Step 1's topology change under the command id the migration gives it, as a process that died right after it would leave it.
      const stopped = await command(server.url, 'StopPool', { fqdn: 'gc.contoso.com', commandId: uuidFromName(`migration-${id}/run/1`) });
      expect(stopped.status).toBe(200);
      const failed = await command(server.url, 'FailMigrationStep', { migrationId: id, reason: 'export share unreachable' });
      expect(failed.body).toMatchObject({ status: 'Failed', steps: [2] });
      const back = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'retry next weekend' });
      expect(back.status).toBe(200);
      expect(back.body).toMatchObject({ status: 'RolledBack', steps: [1] });
      const topology = await get(server, `/api/topology?minPosition=${back.body.position}`);
      expect(topology.body.legacyPools).toEqual([expect.objectContaining({ fqdn: 'gc.contoso.com', status: 'Started' })]);
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('four eyes', () => {
  it('a plan and a rollback wait for another administrator\'s approval; the one who asked cannot approve', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-migration-four-eyes-'));
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', FOUR_EYES: 'on' });
    try {
      await seedTopology(server.url);
      const token = async (name: string): Promise<Record<string, string>> => {
        const response = await fetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer() }, body: JSON.stringify({ name, role: 'admin' }) });
        expect(response.status).toBe(201);
        return bearer(((await response.json()) as { secret: string }).secret);
      };
      const alice = { headers: await token('alice') };
      const bob = { headers: await token('bob') };
      const planned = await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-600' }, alice);
      expect(planned.body).toMatchObject({ status: 'Planned', approvalRequired: true });
      const id = planned.body.migrationId as string;
      expect((await command(server.url, 'RunMigration', { migrationId: id }, alice)).body.error.code).toBe('APPROVAL_REQUIRED');
      expect((await command(server.url, 'ApproveChange', { migrationId: id, decision: 'approve' }, alice)).body.error.code).toBe('SELF_APPROVAL');
      expect((await command(server.url, 'ApproveChange', { migrationId: id, decision: 'approve', reason: 'window agreed' }, bob)).status).toBe(200);
      expect((await command(server.url, 'RunMigration', { migrationId: id }, alice)).body.status).toBe('Completed');

      const asked = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'rooms missing' }, alice);
      expect(asked.body).toMatchObject({ status: 'Completed', approvalRequired: true });
      expect((await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'rooms missing' }, alice)).body.error.code).toBe('APPROVAL_REQUIRED');
      expect((await command(server.url, 'ApproveChange', { migrationId: id, decision: 'approve' }, bob)).status).toBe(200);
      const back = await command(server.url, 'RollbackMigration', { migrationId: id, reason: 'rooms missing' }, alice);
      expect(back.body.status).toBe('RolledBack');
      const shown = await get(server, `/api/migrations/${id}?minPosition=${back.body.position}`);
      expect(shown.body.approval).toEqual({ state: 'approved', by: 'bob' });
      expect(shown.body.rollbackRequest).toMatchObject({ requestedBy: 'alice', approval: 'approved', decidedBy: 'bob' });
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a migration killed at random moments', () => {
  it('resumes at the first unfinished step after each SIGKILL, and applies no step twice', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-migration-crash-'));
    try {
      let server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      await seedTopology(server.url);
      const id = (await command(server.url, 'MigratePool', { ...MIGRATE, reason: 'CHG-300' })).body.migrationId as string;
      for (let round = 0; round < 12; round++) {
        // Killed after a random delay: some kills land between a step's topology append and its record.
        const pending = command(server.url, 'RunMigration', { migrationId: id }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.random() * 25));
        await new Promise<void>((resolve) => {
          server.process.once('exit', () => resolve());
          server.process.kill('SIGKILL');
        });
        await pending;
        server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
        const head = (await get(server, '/health')).body.headPosition as number;
        if ((await get(server, `/api/migrations/${id}?minPosition=${head}`)).body.status === 'Completed') break;
      }
      const finish = await command(server.url, 'RunMigration', { migrationId: id });
      expect(finish.body.status ?? finish.body.error.details.status).toBe('Completed');
      await server.stop();

      const [topology, migration] = await readStreams(dataDir, 'topology-default', `migration-${id}`);
      const steps = topology!.filter((e) => e.metadata['migrationId'] === id).map((e) => e.metadata['migrationStep']);
      expect(steps).toEqual([1, 3, 4, 5, 6]);
      const completed = migration!.filter((e) => e.type === 'MigrationStepCompleted').map((e) => e.data['step']);
      expect(completed).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(migration!.filter((e) => e.type === 'MigrationCompleted')).toHaveLength(1);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('topo migrate', () => {
  it('plans with a runbook, records, steps, shows status and rolls back from the command line', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-migrate-cli-'));
    const topo = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], {
        cwd: ROOT,
        env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', TOPO_REASON: '', TOPO_TOKEN: TEST_ADMIN_TOKEN },
        encoding: 'utf8',
      });
    try {
      const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      await seedTopology(server.url);
      const at = ['--server', server.url];
      const runbook = path.join(dataDir, 'runbook.ps1');
      const plan = topo('migrate', 'plan', '--legacy', 'gc.contoso.com', '--target', 'pcpool.contoso.com', '--runbook', runbook, ...at);
      expect(plan.status).toBe(0);
      expect(plan.stdout).toContain('[ok] R20 no other migration of gc.contoso.com is planned or running');
      expect(fs.readFileSync(runbook, 'utf8')).toContain('Export-CsPersistentChatData');

      const recorded = topo('migrate', 'plan', '--legacy', 'gc.contoso.com', '--target', 'pcpool.contoso.com', '--record', '--reason', 'CHG-400', '--json', ...at);
      expect(recorded.status).toBe(0);
      const id = JSON.parse(recorded.stdout).migrationId as string;

      const step = topo('migrate', 'step', id, ...at);
      expect(step.status).toBe(0);
      expect(step.stdout).toMatch(/1\. stop the legacy Group Chat pool\s+completed/);

      const run = topo('migrate', 'run', id, ...at);
      expect(run.stdout).toContain('Completed');
      expect(run.stdout).toContain('Continuity (R16): sip:ocschat@contoso.com reaches pcpool.contoso.com');

      const runbookText = topo('migrate', 'runbook', id, ...at);
      expect(runbookText.status).toBe(0);
      expect(runbookText.stdout).toContain(`# Migration ${id}`);

      const noReason = topo('migrate', 'rollback', id, ...at);
      expect(noReason.status).toBe(1);
      expect(noReason.stderr).toContain('REASON_REQUIRED');

      const back = topo('migrate', 'rollback', id, '--reason', 'test', ...at);
      expect(back.status).toBe(0);
      const status = topo('migrate', 'status', ...at);
      expect(status.stdout).toContain(`${id}  RolledBack`);
      await server.stop();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
