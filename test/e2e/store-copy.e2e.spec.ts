import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDigest, verifyLog } from '../../src/application/log-verification';
import { EsdbEventStore } from '../../src/event-store/esdb/esdb-event-store';
import { HashChainedEventStore } from '../../src/event-store/hash-chain';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';
import { EsdbTestServer, startEsdbTestServer } from '../support/esdb-test-server';
import { writeHistory } from '../support/history';
import { ROOT } from '../support/server';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `topo store copy`, optionally killed (SIGKILL, as a crash or a lost session) once `killWhen` holds. */
function copy(dataDir: string, to: string, killWhen?: () => boolean): Promise<Run> {
  const { TOPO_TOKEN: _t, EVENTSTORE_CONNECTION_STRING: _e, ...inherited } = process.env;
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), 'store', 'copy', '--to', to], { cwd: ROOT, env: { ...inherited, DATA_DIR: dataDir } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const watch = killWhen
    ? setInterval(() => {
        if (killWhen()) child.kill('SIGKILL');
      }, 10)
    : undefined;
  return new Promise((resolve) =>
    child.on('exit', (status) => {
      if (watch) clearInterval(watch);
      resolve({ status, stdout, stderr });
    }),
  );
}

describe('topo store copy --to esdb://', () => {
  let esdb: EsdbTestServer;
  let root: string;
  beforeEach(async () => {
    esdb = await startEsdbTestServer();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-copy-'));
  });
  afterEach(async () => {
    await esdb.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('copies every stream in log order with ids, types, data, metadata and hash chain; killed midway, the same command resumes and verifies', async () => {
    const dataDir = path.join(root, 'data');
    const chained = new HashChainedEventStore(new SqliteEventStore({ dataDir }));
    const written = await writeHistory(chained, 12, 10);
    await chained.close();
    const source = new SqliteEventStore({ dataDir });
    const sourceEvents = await source.readAll();
    const sourceCheck = await verifyLog(new HashChainedEventStore(source));
    await source.close();
    expect(sourceEvents).toHaveLength(written);

    // Slow appends, so that the copy is killed with part of the log on the target.
    esdb.delay('Append', 60);
    const checkpoint = path.join(dataDir, 'store-copy.json');
    const killed = await copy(dataDir, esdb.connectionString, () => fs.existsSync(checkpoint) && Object.values(JSON.parse(fs.readFileSync(checkpoint, 'utf8')) as Record<string, { position: number }>)[0]!.position > 0);
    expect(killed.status).toBeNull();
    esdb.delay('Append', 0);
    const target = EsdbEventStore.connect(esdb.connectionString);
    try {
      const partial = await target.readAll();
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(written);

      const resumed = await copy(dataDir, esdb.connectionString);
      expect(resumed.stderr).toMatch(/^topo store: resuming the copy after position \d+/);
      expect(resumed.status).toBe(0);
      // The digest chains every event's hash in log order: the same on both (only the position that labels it differs).
      const hash = formatDigest(sourceCheck.digest).split(':')[1]!;
      expect(resumed.stdout).toMatch(new RegExp(`hash chains verified on both; digests match: \\d+:${hash} \\(${written} events\\)`));

      const copied = await target.readAll();
      const shape = (e: (typeof copied)[number]) => ({ id: e.id, streamId: e.streamId, revision: e.revision, type: e.type, data: e.data, metadata: e.metadata });
      expect(copied.map(shape)).toEqual(sourceEvents.map(shape));
      expect((await verifyLog(new HashChainedEventStore(target))).broken).toBeNull();

      // Once more: nothing is appended twice.
      fs.rmSync(checkpoint);
      const again = await copy(dataDir, esdb.connectionString);
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(new RegExp(`^copied 0 events \\(${written} already there\\)`));
      expect(await target.readAll()).toHaveLength(written);
    } finally {
      await target.close();
    }
  });

  it('refuses a target that holds other events at the same revisions', async () => {
    const dataDir = path.join(root, 'data');
    const chained = new HashChainedEventStore(new SqliteEventStore({ dataDir }));
    await writeHistory(chained, 1, 2);
    await chained.close();
    const other = new HashChainedEventStore(EsdbEventStore.connect(esdb.connectionString));
    await other.appendToStream('topology-org0', [{ id: randomUUID(), type: 'SipDomainRegistered', data: { domain: 'fabrikam.com' } }], { expectedRevision: 'no_stream' });
    await other.close();
    const refused = await copy(dataDir, esdb.connectionString);
    expect([refused.status, refused.stdout]).toEqual([1, ""]);
    expect(refused.stderr).toMatch(/copy failed: stream topology-org0 revision 0: the target holds event .*, not .*; the target is not a copy of this store/);
  });
});
