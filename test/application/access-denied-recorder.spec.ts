import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessDeniedRecorder, DeniedAttempt, DENIAL_WINDOW_MS } from '../../src/application/access-denied-recorder';
import { AccessDenied } from '../../src/application/authorization';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

/** Denials aggregated per window, on a real store; only the recorder's interval and the clock are simulated. */
describe('AccessDeniedRecorder', () => {
  let dataDir: string;
  let store: SqliteEventStore;
  let recorder: AccessDeniedRecorder;

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    jest.setSystemTime(new Date('2026-06-01T10:00:00.000Z'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-denials-'));
    store = new SqliteEventStore({ dataDir });
    recorder = new AccessDeniedRecorder(store);
  });
  afterEach(async () => {
    await recorder.onModuleDestroy();
    await store.close();
    jest.useRealTimers();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const attempt = (address: string, reason = 'no credential'): DeniedAttempt => ({
    deployment: 'default',
    principal: null,
    credentialFingerprint: null,
    route: 'GET /api/topology',
    routeKey: 'GET /api/topology',
    method: 'GET',
    command: null,
    denial: AccessDenied.unauthenticated(reason),
    context: {
      actor: 'anonymous',
      roles: [],
      authenticated: false,
      commandId: 'c',
      correlationId: 'c',
      causationId: null,
      reason: null,
      clientAddress: address,
      occurredAt: new Date().toISOString(),
    },
  });
  const denials = async (): Promise<Array<Record<string, unknown>>> => (await store.readStream('access_denied-default')).map((e) => e.data);

  it('records the first denial at once and its repeats as one event when the window closes', async () => {
    for (let i = 0; i < 50; i++) {
      await recorder.record(attempt('10.0.0.1'));
      jest.advanceTimersByTime(100);
    }
    expect(await denials()).toEqual([expect.objectContaining({ attempts: 1, firstOccurredAt: '2026-06-01T10:00:00.000Z' })]);
    jest.advanceTimersByTime(DENIAL_WINDOW_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const recorded = await denials();
    expect(recorded).toEqual([
      expect.objectContaining({ attempts: 1 }),
      expect.objectContaining({ attempts: 49, firstOccurredAt: '2026-06-01T10:00:00.100Z', lastOccurredAt: '2026-06-01T10:00:04.900Z', status: 401, reason: 'no credential' }),
    ]);
    expect(recorded.reduce((sum, d) => sum + (d['attempts'] as number), 0)).toBe(50);
    // The window is closed: the next denial opens a new one, recorded at once.
    await recorder.record(attempt('10.0.0.1'));
    expect((await denials()).length).toBe(3);
  });

  it('keeps addresses and reasons apart, and records open windows when it stops', async () => {
    for (const address of ['10.0.0.1', '10.0.0.2']) for (let i = 0; i < 3; i++) await recorder.record(attempt(address));
    for (let i = 0; i < 3; i++) await recorder.record(attempt('10.0.0.1', 'unknown token'));
    expect((await denials()).map((d) => [d['clientAddress'], d['reason'], d['attempts']])).toEqual([
      ['10.0.0.1', 'no credential', 1],
      ['10.0.0.2', 'no credential', 1],
      ['10.0.0.1', 'unknown token', 1],
    ]);
    await recorder.onModuleDestroy();
    expect((await denials()).slice(3).map((d) => [d['clientAddress'], d['reason'], d['attempts']])).toEqual([
      ['10.0.0.1', 'no credential', 2],
      ['10.0.0.2', 'no credential', 2],
      ['10.0.0.1', 'unknown token', 2],
    ]);
  });

  it("does not grow the log with a new deployment name per request: a reader's 403s are 8 deployments apart, then one window", async () => {
    const reader = (deployment: string): DeniedAttempt => ({
      ...attempt('10.0.0.9'),
      deployment,
      principal: 'viewer',
      route: 'POST /api/commands/RegisterSipDomain',
      routeKey: 'POST /api/commands/:name',
      method: 'POST',
      command: 'RegisterSipDomain',
      denial: new AccessDenied(403, 'viewer has role reader and may not run RegisterSipDomain; it needs admin or operator.', 'role'),
    });
    for (let i = 1; i <= 200; i++) await recorder.record(reader(`flood${i}`));
    await recorder.onModuleDestroy();
    // The first 8 deployments each their own record; the other 192 one window: its first denial, then its 191 repeats as one event naming them.
    for (let i = 1; i <= 8; i++) expect((await store.readStream(`access_denied-flood${i}`)).map((e) => e.data)).toEqual([expect.objectContaining({ attempts: 1, status: 403, deployment: `flood${i}` })]);
    expect((await store.readStream('access_denied-flood9')).map((e) => e.data)).toEqual([expect.objectContaining({ attempts: 1, deployment: 'flood9' })]);
    const repeats = (await store.readStream('access_denied-flood10')).map((e) => e.data);
    expect(repeats).toEqual([expect.objectContaining({ attempts: 191, deploymentCount: 191 })]);
    expect((repeats[0]!['deployments'] as string[]).length).toBe(20);
    await expect(store.readStream('access_denied-flood11')).rejects.toThrow();
  });
});
