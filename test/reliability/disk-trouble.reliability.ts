import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { command, getJson, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';
import { readLog, tempDir, waitUntilLive } from './support';

/**
 * Disk trouble under a running server: the store file turned read-only, the data directory moved
 * away or removed, the disk full. Each time the caller gets a clear error (503 with a JSON error
 * code, promptly), the process stays up, nothing acknowledged is lost, and commands succeed again
 * once the fault is gone. Faults that need root (chattr, mount) are skipped with the reason printed.
 */

const run = (cmd: string, args: readonly string[]): { ok: boolean; output: string } => {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.stdout ?? ''}${result.error ? String(result.error) : ''}`.trim() };
};

let seq = 0;
/** Per server URL: commandId -> events acknowledged. */
const acknowledgedBy = new Map<string, Map<string, number>>();
const acknowledgedOf = (server: RunningServer): Map<string, number> => {
  const map = acknowledgedBy.get(server.url) ?? new Map<string, number>();
  acknowledgedBy.set(server.url, map);
  return map;
};

/** One new CreateEndpoint; remembers it when acknowledged. Resolves with the status and error code, or status 0 after 10 s without an answer. */
async function createEndpoint(server: RunningServer, deployment = 'default'): Promise<{ status: number; code: string | undefined; ms: number }> {
  const n = seq++;
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const reply = await Promise.race([
    command(server.url, 'CreateEndpoint', { sipAddress: `sip:disk${n}@contoso.com`, persistentChatPoolFqdn: 'pcpool.contoso.com', deployment }),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000))),
  ]).finally(() => clearTimeout(timer));
  if (!reply) return { status: 0, code: 'NO ANSWER IN 10 s', ms: Date.now() - start };
  const body = reply.body as { commandId?: string; events?: unknown[]; error?: { code?: string } };
  if (reply.status === 200 && body.commandId) acknowledgedOf(server).set(body.commandId, body.events?.length ?? 0);
  return { status: reply.status, code: body.error?.code, ms: Date.now() - start };
}

/** Every command acknowledged by servers on `dataDir` is in its log with its events, exactly once. */
function missingAcknowledged(dataDir: string, ...servers: RunningServer[]): string[] {
  const acknowledged = new Map(servers.flatMap((s) => [...acknowledgedOf(s)]));
  const counts = new Map<string, number>();
  for (const e of readLog(dataDir)) {
    const id = e.metadata['commandId'];
    if (typeof id === 'string' && e.streamId.startsWith('topology-')) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...acknowledged].filter(([id, events]) => counts.get(id) !== events).map(([id, events]) => `${id}: ${counts.get(id) ?? 0} stored, ${events} acknowledged`);
}

/** Sends commands while the fault lasts: each must be 503 with a JSON code, answered promptly. */
async function expectRefusedWhileFaulty(server: RunningServer, attempts = 5): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const answer = await createEndpoint(server);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 503, code: 'EVENT_STORE_UNAVAILABLE' });
    expect(answer.ms).toBeLessThan(5_000);
  }
  expect((await getJson(server.url, '/health')).status).toBe(503);
}

/** Commands succeed again, and then `/health` says so. */
async function expectRecovered(server: RunningServer): Promise<void> {
  for (let i = 0; i < 5; i++) expect((await createEndpoint(server)).status).toBe(200);
  expect((await getJson(server.url, '/health')).status).toBe(200);
}

describe('disk trouble', () => {
  let root: string;
  let dataDir: string;
  let server: RunningServer;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    root = tempDir('disk');
    dataDir = path.join(root, 'data');
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'error' });
    servers.push(server);
    await seedTopology(server.url);
    for (let i = 0; i < 20; i++) expect((await createEndpoint(server)).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    if (server.process.exitCode === null) await server.stop();
    for (const name of [STORE_FILE_NAME, `${STORE_FILE_NAME}-wal`]) run('chattr', ['-i', path.join(dataDir, name)]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('the store file made read-only (immutable): 503, then commands succeed again once it is writable', async () => {
    const files = [STORE_FILE_NAME, `${STORE_FILE_NAME}-wal`].map((name) => path.join(dataDir, name));
    const made = run('chattr', ['+i', ...files]);
    if (!made.ok) {
      console.log(`SKIPPED read-only store file: chattr +i is not permitted here (${made.output})`);
      return;
    }
    try {
      await expectRefusedWhileFaulty(server);
    } finally {
      expect(run('chattr', ['-i', ...files]).ok).toBe(true);
    }
    await expectRecovered(server);
    expect(missingAcknowledged(dataDir, ...servers)).toEqual([]);
  }, 60_000);

  it('the data directory moved away: 503, and commands succeed again once it is back', async () => {
    const away = path.join(root, 'data.away');
    fs.renameSync(dataDir, away);
    try {
      await expectRefusedWhileFaulty(server);
    } finally {
      fs.renameSync(away, dataDir);
    }
    await expectRecovered(server);
    expect(missingAcknowledged(dataDir, ...servers)).toEqual([]);
  }, 60_000);

  it('the data directory removed: 503 rather than acknowledging writes into deleted files; a restart from the backup has everything acknowledged', async () => {
    const backup = path.join(root, 'backup');
    fs.cpSync(dataDir, backup, { recursive: true });
    const before = missingAcknowledged(dataDir, ...servers);
    fs.rmSync(dataDir, { recursive: true, force: true });
    await expectRefusedWhileFaulty(server);
    // The process still answers and stops cleanly; the fault gone (the directory restored), it starts and has it all.
    expect(await server.stop()).toBe(0);
    fs.cpSync(backup, dataDir, { recursive: true });
    expect(before).toEqual([]);
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'error' });
    servers.push(server);
    await expectRecovered(server);
    expect(missingAcknowledged(dataDir, ...servers)).toEqual([]);
  }, 60_000);

  it('the disk full (an 8 MB tmpfs): 503 while full, nothing acknowledged lost, commands and projections recover once space is freed', async () => {
    const small = path.join(root, 'small');
    fs.mkdirSync(small);
    const mounted = run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    if (!mounted.ok) {
      console.log(`SKIPPED disk full: mounting a tmpfs is not permitted here (${mounted.output})`);
      return;
    }
    let full: RunningServer | undefined;
    try {
      const smallData = path.join(small, 'data');
      full = await startServer({ DATA_DIR: smallData, LOG_LEVEL: 'error' });
      const onSmall = [full];
      await seedTopology(full.url);
      for (let i = 0; i < 10; i++) expect((await createEndpoint(full)).status).toBe(200);
      // Fill what is left.
      const filler = path.join(small, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(16 * 1024));
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const answers: { status: number; code: string | undefined }[] = [];
      for (let i = 0; i < 400 && !answers.some((a) => a.status === 503); i++) {
        const answer = await createEndpoint(full).catch((error: unknown) => {
          throw new Error(`the server failed while the disk was full: ${String(error)}\n${full?.output() ?? ''}`);
        });
        answers.push({ status: answer.status, code: answer.code });
      }
      const kinds = [...new Set(answers.map((a) => `${a.status} ${a.code ?? ''}`.trim()))];
      console.log(`disk full: answers ${JSON.stringify(kinds)} over ${answers.length} commands`);
      expect(kinds.every((k) => k === '200' || k === '503 EVENT_STORE_UNAVAILABLE')).toBe(true);
      expect(kinds).toContain('503 EVENT_STORE_UNAVAILABLE');
      expect(full.process.exitCode).toBeNull();
      expect(missingAcknowledged(smallData, ...onSmall)).toEqual([]);

      fs.rmSync(filler);
      await expectRecovered(full);
      const server = full;
      await waitUntilLive(server, 30_000).catch((error: unknown) => {
        throw new Error(`${String(error)}\nserver output:\n${server.output()}`);
      });
      expect(await full.stop()).toBe(0);
      expect(missingAcknowledged(smallData, ...onSmall)).toEqual([]);
      // And it starts again from what is on the small disk.
      full = await startServer({ DATA_DIR: smallData, LOG_LEVEL: 'error' });
      onSmall.push(full);
      await expectRecovered(full);
      expect(await full.stop()).toBe(0);
      full = undefined;
      expect(missingAcknowledged(smallData, ...onSmall)).toEqual([]);
    } finally {
      if (full && full.process.exitCode === null) await full.stop();
      run('umount', [small]);
    }
  }, 120_000);
});
