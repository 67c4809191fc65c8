import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createKeyFiles, readPrivateKey, signCheckpoint } from '../../src/application/audit-signing';
import { EMPTY_LOG_DIGEST, eventHash, nextLogDigest } from '../../src/event-store/chain-hash';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, runUntilExit, startServer } from '../support/server';

/**
 * The audited-production configuration end to end: a server signing checkpoints with a key outside
 * DATA_DIR into a witness file outside it; then the store file tampered with as an attacker who can
 * write DATA_DIR would (hashes recomputed by the README's formula, links rewritten), and every
 * tampering found by `topo audit verify`, by the server at start, and by `GET /api/audit/verify`.
 */
describe('audit trust: signed checkpoints and witnesses', () => {
  let root: string;
  let dataDir: string;
  let keyFile: string;
  let publicKey: string;
  let witness: string;
  let server: RunningServer;
  let created: { position: number; streamId: string; revision: number };

  const topo = (dir: string, env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dir, LOG_LEVEL: 'warn', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
  const verify = (dir: string, ...args: string[]) => topo(dir, {}, 'audit', 'verify', '--witness', witness, '--public-key', publicKey, ...args);

  /** A copy of the stopped server's DATA_DIR (events and read models), to tamper with. */
  const copy = (): string => {
    const dir = fs.mkdtempSync(path.join(root, 'copy-'));
    for (const file of fs.readdirSync(dataDir)) if (file.endsWith('.sqlite') || file.includes('.sqlite-')) fs.copyFileSync(path.join(dataDir, file), path.join(dir, file));
    return dir;
  };

  type Row = { position: number; stream_id: string; revision: number; type: string; data: string; metadata: string };
  /**
   * Rewrites the events of a stream from `fromRevision` on as the README's formula says an event is
   * hashed, linking each to the one before: the chain holds again, as after a careful attacker.
   */
  const relink = (db: Database.Database, streamId: string, fromRevision: number): void => {
    const rows = db.prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY revision').all(streamId) as Row[];
    let previous: string | null = null;
    for (const row of rows) {
      const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
      if (row.revision >= fromRevision) {
        delete metadata['hash'];
        metadata['prevHash'] = previous;
        const hash = eventHash(row.stream_id, row.revision, row.type, JSON.parse(row.data), metadata as never);
        metadata['hash'] = hash;
        db.prepare('UPDATE events SET metadata = ? WHERE position = ?').run(JSON.stringify(metadata), row.position);
      }
      previous = metadata['hash'] as string;
    }
  };
  const open = (dir: string) => new Database(path.join(dir, 'events.sqlite'));

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-trust-'));
    dataDir = path.join(root, 'data');
    fs.mkdirSync(path.join(root, 'keys'));
    fs.mkdirSync(path.join(root, 'witness'));
    keyFile = path.join(root, 'keys', 'audit.pem');
    witness = path.join(root, 'witness', 'checkpoints.ndjson');
    const made = topo(dataDir, {}, 'keys', 'create', keyFile);
    expect(made.status).toBe(0);
    publicKey = `${keyFile}.pub`;
    expect(made.stdout).toContain('fingerprint: sha256:');
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: witness });
    await seedTopology(server.url);
    const endpoint = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(endpoint.status).toBe(200);
    const event = endpoint.body.events[0];
    created = { position: endpoint.body.position, streamId: event.streamId, revision: event.revision };
    await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com' }, { headers: { 'x-reason': 'CHG-7' } });
    await command(server.url, 'RegisterSipDomain', { domain: 'fabrikam.com' });
    await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com', deployment: 'lab' });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('signs a checkpoint of the head within a second of an acknowledged command, into the witness', async () => {
    const answered = await command(server.url, 'RegisterSipDomain', { domain: 'northwind.com' });
    expect(answered.status).toBe(200);
    const deadline = Date.now() + 1000;
    let health: { audit: { latestCheckpoint?: { position: number } } } | undefined;
    while (Date.now() < deadline) {
      health = (await (await fetch(`${server.url}/health`)).json()) as typeof health;
      if ((health!.audit.latestCheckpoint?.position ?? 0) >= answered.body.position) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(health!.audit.latestCheckpoint!.position).toBeGreaterThanOrEqual(answered.body.position);
    expect(health).toMatchObject({ status: 'ok', auditLog: 'verified', audit: { protected: true, key: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), witnesses: [{ ok: true }] } });
    const lines = fs.readFileSync(witness, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[lines.length - 1]).toMatchObject({ version: 1, algorithm: 'sha256-chain-v1', key: health!.audit && (health as { audit: { key: string } }).audit.key });
    expect(lines[lines.length - 1].position).toBeGreaterThanOrEqual(answered.body.position);
  });

  it('under load, checkpoints are batched and no acknowledged command waits more than a second for one', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => command(server.url, 'RegisterSipDomain', { domain: `load${i}.contoso.com`, deployment: `load${i % 4}` })),
    );
    const acknowledgedAt = Date.now();
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const last = Math.max(...answers.map((a) => a.body.position as number));
    let signedAt = 0;
    while (Date.now() - acknowledgedAt < 3000) {
      const health = (await (await fetch(`${server.url}/health`)).json()) as { audit: { latestCheckpoint?: { position: number } } };
      if ((health.audit.latestCheckpoint?.position ?? 0) >= last) {
        signedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(signedAt).toBeGreaterThan(0);
    expect(signedAt - acknowledgedAt).toBeLessThan(1000);
    // Batched: fewer checkpoints than commands.
    const lines = fs.readFileSync(witness, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { position: number });
    expect(lines.filter((c) => c.position > last - 40).length).toBeLessThan(40);
  });

  it('GET /api/audit/verify streams progress, then the verdict', async () => {
    const response = await fetch(`${server.url}/api/audit/verify`, { headers: bearer() });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await response.text();
    expect(text).toMatch(/^event: progress\ndata: \{"events":0,"position":0\}/);
    const verdict = JSON.parse(/event: verdict\ndata: (.*)\n/.exec(text)![1]!);
    expect(verdict).toMatchObject({ ok: true, broken: null, protected: true, checkpoints: { checked: 1 } });
  });

  describe('after the server stopped (every acknowledged append signed)', () => {
    beforeAll(async () => {
      await server.stop();
    });

    it('topo audit verify: every event and every signed checkpoint hold', () => {
      const result = verify(dataDir);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^against \d+ signed checkpoint\(s\) of .* \(key sha256:[0-9a-f]{64}\); the latest at position \d+/m);
      expect(result.stdout).not.toContain('not yet covered');
      // The server's own configuration does the same.
      const configured = topo(dataDir, { AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: witness }, 'audit', 'verify');
      expect(configured.status).toBe(0);
      expect(configured.stdout).toContain('signed checkpoint(s)');
    });

    it('an event edited with its hash recomputed and its stream relinked: found, with its type and the field changed', () => {
      const dir = copy();
      const db = open(dir);
      const row = db.prepare('SELECT * FROM events WHERE position = ?').get(created.position) as Row;
      expect(row.type).toBe('PersistentChatEndpointCreated');
      db.prepare('UPDATE events SET data = ? WHERE position = ?').run(row.data.replace('pcpool.contoso.com', 'evil.contoso.com'), row.position);
      relink(db, row.stream_id, row.revision);
      db.close();
      // The chain alone is fooled, as the README's formula allows.
      const chainOnly = topo(dir, {}, 'audit', 'verify');
      expect(chainOnly.status).toBe(0);
      const result = verify(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `BROKEN: checkpoint_mismatch at stream ${row.stream_id} revision ${row.revision}, position ${row.position}, event type PersistentChatEndpointCreated`,
      );
      expect(result.stderr).toContain('data.poolFqdn: changed, now "evil.contoso.com"');
    });

    it('an event edited without its hash: altered, with the field changed', () => {
      const dir = copy();
      const db = open(dir);
      db.prepare(`UPDATE events SET data = replace(data, 'pcpool.contoso.com', 'evil.contoso.com') WHERE position = ?`).run(created.position);
      db.close();
      const result = verify(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`BROKEN: altered at stream ${created.streamId} revision ${created.revision}, position ${created.position}, event type PersistentChatEndpointCreated`);
      expect(result.stderr).toContain('data.poolFqdn: changed, now "evil.contoso.com"');
    });

    it('an event deleted (the last of its stream, so no link shows it): found by the checkpoints and named', () => {
      const dir = copy();
      const db = open(dir);
      const head = (db.prepare('SELECT max(position) AS p FROM events').get() as { p: number }).p;
      // The last event of a stream that is not the log's last event.
      const victim = db
        .prepare('SELECT e.* FROM events e WHERE e.position < ? AND e.revision = (SELECT max(revision) FROM events WHERE stream_id = e.stream_id) ORDER BY e.position DESC LIMIT 1')
        .get(head) as Row;
      db.prepare('DELETE FROM events WHERE position = ?').run(victim.position);
      db.close();
      expect(topo(dir, {}, 'audit', 'verify').status).toBe(0);
      const result = verify(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`BROKEN: checkpoint_mismatch at stream ${victim.stream_id} revision ${victim.revision}, position ${victim.position}, event type ${victim.type}`);
      expect(result.stderr).toContain('is gone from the log: deleted');
    });

    it('two events of different streams swapped in the log: reordered, named at the first position', () => {
      const dir = copy();
      const db = open(dir);
      const [a, b] = db
        .prepare('SELECT e.* FROM events e JOIN events f ON f.position = e.position + 1 AND f.stream_id <> e.stream_id ORDER BY e.position LIMIT 1')
        .all() as Row[];
      const next = db.prepare('SELECT * FROM events WHERE position = ?').get(a!.position + 1) as Row;
      void b;
      db.prepare('UPDATE events SET position = -1 WHERE position = ?').run(a!.position);
      db.prepare('UPDATE events SET position = ? WHERE position = ?').run(a!.position, next.position);
      db.prepare('UPDATE events SET position = ? WHERE position = -1').run(next.position);
      db.close();
      const result = verify(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`BROKEN: checkpoint_mismatch at stream ${next.stream_id} revision ${next.revision}, position ${a!.position}, event type ${next.type}`);
      expect(result.stderr).toContain('reordered or replaced');
    });

    it('the log cut before the latest checkpoint: truncated', () => {
      const dir = copy();
      const db = open(dir);
      const cut = db.prepare('SELECT position, stream_id, revision, type FROM events WHERE position > (SELECT max(position) - 2 FROM events) ORDER BY position').all() as Row[];
      db.prepare('DELETE FROM events WHERE position > (SELECT max(position) - 2 FROM events)').run();
      db.close();
      expect(topo(dir, {}, 'audit', 'verify').status).toBe(0);
      const result = verify(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/BROKEN: truncated at position \d+: the log ends at position \d+, before the signed checkpoint at position \d+/);
      // Which events the signed checkpoint vouched for are gone: how many, their positions, and (from the read models' copy) which.
      const json = JSON.parse(verify(dir, '--json').stdout) as { broken: { position: number; missing: { afterPosition: number; throughPosition: number; events: number; named: unknown[] } } };
      const { afterPosition, throughPosition } = json.broken.missing;
      const vouched = cut.filter((e) => e.position <= json.broken.position);
      expect(afterPosition).toBe(cut[0]!.position - 1);
      expect(json.broken.missing).toMatchObject({ events: throughPosition - afterPosition, named: vouched.map((e) => ({ position: e.position, streamId: e.stream_id, revision: e.revision, type: e.type })) });
      expect(result.stderr).toContain(`missing: ${throughPosition - afterPosition} event(s), `);
      expect(result.stderr).toContain(`${vouched[0]!.stream_id}@${vouched[0]!.revision} (${vouched[0]!.type}) at position ${vouched[0]!.position}`);
    });

    it('the whole file rewritten consistently and signed with a new key: the trusted key rejects the forged witness; the real one shows the rewrite', () => {
      const dir = copy();
      fs.rmSync(path.join(dir, 'read-models.sqlite'), { force: true });
      const db = open(dir);
      db.prepare(`UPDATE events SET data = replace(data, 'contoso.com', 'attacker.example') WHERE position = 1 OR data LIKE '%contoso.com%'`).run();
      const streams = db.prepare('SELECT DISTINCT stream_id FROM events').all() as { stream_id: string }[];
      for (const { stream_id } of streams) relink(db, stream_id, 0);
      // The attacker's own checkpoints, signed with a key of theirs, in a witness of theirs.
      const forgedKey = createKeyFiles(path.join(root, 'keys', `forged-${path.basename(dir)}.pem`));
      const key = readPrivateKey(forgedKey.privateFile);
      let digest = EMPTY_LOG_DIGEST;
      const lines: string[] = [];
      for (const row of db.prepare('SELECT * FROM events ORDER BY position').all() as Row[]) {
        digest = nextLogDigest(digest, JSON.parse(row.metadata).hash);
        lines.push(JSON.stringify(signCheckpoint(key, row.position, digest, new Date())));
      }
      db.close();
      const forgedWitness = path.join(root, 'witness', `forged-${path.basename(dir)}.ndjson`);
      fs.writeFileSync(forgedWitness, `${lines.join('\n')}\n`);
      expect(topo(dir, {}, 'audit', 'verify').status).toBe(0);
      // The attacker's key verifies the attacker's witness: only the trusted public key tells.
      expect(topo(dir, {}, 'audit', 'verify', '--witness', forgedWitness, '--public-key', `${forgedKey.privateFile}.pub`).status).toBe(0);
      const forged = topo(dir, {}, 'audit', 'verify', '--witness', forgedWitness, '--public-key', publicKey, '--all');
      expect(forged.status).toBe(1);
      expect(forged.stderr).toMatch(/BROKEN: checkpoint_invalid: witness line 1: signed by key sha256:[0-9a-f]{64}, not by the trusted key/);
      const real = verify(dir, '--all');
      expect(real.status).toBe(1);
      expect(real.stderr).toContain('BROKEN: checkpoint_mismatch at position 1');
      expect(real.stderr).toMatch(/\d+ break\(s\) in \d+ events/);
    });

    describe('the server on a tampered store', () => {
      let tampered: RunningServer | undefined;
      afterEach(async () => {
        await tampered?.stop();
        tampered = undefined;
      });

      const tamper = (): string => {
        const dir = copy();
        const db = open(dir);
        const row = db.prepare('SELECT * FROM events WHERE position = ?').get(created.position) as Row;
        db.prepare('UPDATE events SET data = ? WHERE position = ?').run(row.data.replace('pcpool.contoso.com', 'evil.contoso.com'), row.position);
        relink(db, row.stream_id, row.revision);
        db.close();
        return dir;
      };
      /** The server's own witness, copied: the tampered server must not add to the real one. */
      const witnessCopy = (): string => {
        const file = path.join(root, 'witness', `copy-${Date.now()}.ndjson`);
        fs.copyFileSync(witness, file);
        return file;
      };
      const waitFor = async (check: () => Promise<boolean>): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((r) => setTimeout(r, 50));
        }
      };

      it('notices at start: /health 503 broken with where, commands 503 AUDIT_LOG_BROKEN, queries marked, verify says so', async () => {
        const dir = tamper();
        tampered = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: witnessCopy() });
        const url = tampered.url;
        await waitFor(async () => (await fetch(`${url}/health`)).status === 503);
        const health = await (await fetch(`${url}/health`)).json();
        expect(health).toMatchObject({ auditLog: 'broken', at: { problem: 'checkpoint_mismatch', position: created.position, eventType: 'PersistentChatEndpointCreated' } });
        const refused = await command(url, 'RegisterSipDomain', { domain: 'late.example' });
        expect(refused.status).toBe(503);
        expect(refused.body.error.code).toBe('AUDIT_LOG_BROKEN');
        // An expected state, not a crash: said once as a warning, without a stack, however many requests it refuses.
        expect((await command(url, 'RegisterSipDomain', { domain: 'later.example' })).status).toBe(503);
        const lines = tampered.output().split('\n').filter((line) => line.includes('AUDIT_LOG_BROKEN') && !line.includes('"context":"AuditLog"'));
        expect(lines.filter((line) => line.includes('"context":"Api"'))).toEqual([expect.stringContaining('"level":"warn"')]);
        expect(lines.filter((line) => line.includes('"level":"error"'))).toEqual([]);
        expect(tampered.output()).not.toMatch(/AuditLogBroken: .*\n\s+at /);
        const query = await fetch(`${url}/api/topology`, { headers: bearer() });
        expect(query.status).toBe(200);
        expect(query.headers.get('x-audit-log')).toBe('broken');
        // No digest to keep from a broken log, whatever the read model still holds.
        const digest = await fetch(`${url}/api/audit/digest`, { headers: bearer() });
        expect(digest.status).toBe(503);
        expect(((await digest.json()) as { error: { code: string } }).error.code).toBe('AUDIT_LOG_BROKEN');
        const verdict = await fetch(`${url}/api/audit/verify`, { headers: bearer() }).then((r) => r.text());
        expect(JSON.parse(/event: verdict\ndata: (.*)\n/.exec(verdict)![1]!)).toMatchObject({ ok: false, broken: { problem: 'checkpoint_mismatch', position: created.position } });
      });

      it('restarted on the same store, key and witness: /health, the witness and the report show the checkpoint it holds', async () => {
        const dir = copy();
        const copied = witnessCopy();
        const signedHead = (JSON.parse(fs.readFileSync(copied, 'utf8').trim().split('\n').pop()!) as { position: number; digest: string });
        tampered = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: copied });
        const url = tampered.url;
        await waitFor(async () => ((await (await fetch(`${url}/health`)).json()) as { auditLog: string }).auditLog === 'verified');
        const health = (await (await fetch(`${url}/health`)).json()) as { audit: { latestCheckpoint?: { position: number; digest: string }; witnesses: { latestPosition: number | null }[] } };
        expect(health.audit.latestCheckpoint).toMatchObject({ position: signedHead.position, digest: signedHead.digest });
        expect(health.audit.witnesses).toEqual([expect.objectContaining({ published: 0, latestPosition: signedHead.position })]);
        const period = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;
        const report = (await (await fetch(`${url}/api/compliance/report?${period}&minPosition=${signedHead.position}`, { headers: bearer() })).json()) as { assurance: unknown };
        expect(report.assurance).toMatchObject({ latestCheckpoint: { position: signedHead.position, digest: signedHead.digest }, coversReport: true });
      });

      it('read models rebuilt on the edited log: the digest the witness contradicts is never served', async () => {
        const dir = tamper();
        fs.rmSync(path.join(dir, 'read-models.sqlite'), { force: true });
        const copied = witnessCopy();
        const signedHead = (JSON.parse(fs.readFileSync(copied, 'utf8').trim().split('\n').pop()!) as { position: number }).position;
        tampered = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: copied });
        const url = tampered.url;
        const digest = await fetch(`${url}/api/audit/digest?minPosition=${created.position}`, { headers: bearer() });
        expect(digest.status).toBe(503);
        expect(((await digest.json()) as { error: { code: string } }).error.code).toBe('AUDIT_LOG_BROKEN');
        expect((await fetch(`${url}/health`)).status).toBe(503);
        // The report still answers, for the investigation, but carries no contradicted digest and says why.
        const period = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;
        const report = await fetch(`${url}/api/compliance/report?${period}&minPosition=${signedHead}`, { headers: bearer() });
        expect(report.status).toBe(200);
        expect(report.headers.get('x-audit-log')).toBe('broken');
        expect(await report.json()).toMatchObject({ digest: null, assurance: { auditLog: 'broken', signingKey: expect.stringMatching(/^sha256:/) } });
      });
    });
  });

  it('notices in the background (AUDIT_VERIFY_INTERVAL) an edit made while it runs, and stops appending', async () => {
    const dir = path.join(root, 'live');
    const liveWitness = path.join(root, 'witness', 'live.ndjson');
    const live = await startServer({ DATA_DIR: dir, LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_FILE: liveWitness, AUDIT_VERIFY_INTERVAL: '1s' });
    try {
      await seedTopology(live.url);
      const last = await command(live.url, 'RegisterSipDomain', { domain: 'fabrikam.com' });
      // Signed, then edited in place with its hash recomputed.
      const deadline = Date.now() + 2000;
      const signed = (): boolean => fs.existsSync(liveWitness) && fs.readFileSync(liveWitness, 'utf8').includes(`"position":${last.body.position},`);
      while (!signed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(signed()).toBe(true);
      const db = open(dir);
      const row = db.prepare(`SELECT * FROM events WHERE type = 'PersistentChatPoolInstalled'`).get() as Row;
      db.prepare('UPDATE events SET data = ? WHERE position = ?').run(row.data.replace('pc2.contoso.com', 'rogue.contoso.com'), row.position);
      relink(db, row.stream_id, row.revision);
      db.close();
      let health: { auditLog?: string; at?: { position: number; eventType: string } } = {};
      const until = Date.now() + 8000;
      while (health.auditLog !== 'broken' && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        health = (await (await fetch(`${live.url}/health`)).json()) as typeof health;
      }
      expect(health).toMatchObject({ auditLog: 'broken', at: { position: row.position, eventType: 'PersistentChatPoolInstalled' } });
      expect((await command(live.url, 'RegisterSipDomain', { domain: 'late.example' })).status).toBe(503);
    } finally {
      await live.stop();
    }
  }, 30_000);

  it('refuses AUDIT_KEY_FILE inside DATA_DIR, and a key that is not Ed25519, with one line naming the variable', async () => {
    const inside = await runUntilExit({ DATA_DIR: root, AUDIT_KEY_FILE: keyFile });
    expect(inside.code).toBe(2);
    expect(inside.stderr.trim().split('\n')).toEqual([expect.stringContaining('invalid configuration: AUDIT_KEY_FILE must lie outside DATA_DIR')]);
    const notAKey = path.join(root, 'witness', 'not-a-key.pem');
    fs.writeFileSync(notAKey, 'hello');
    const bad = await runUntilExit({ DATA_DIR: path.join(root, 'other'), AUDIT_KEY_FILE: notAKey });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('invalid configuration: AUDIT_KEY_FILE must be an Ed25519 private key')]);
  });

  it('without AUDIT_KEY_FILE the server says at start and in /health that the log is not protected', async () => {
    const plain = await startServer({ DATA_DIR: path.join(root, 'plain'), LOG_LEVEL: 'warn' });
    try {
      expect(plain.output()).toContain('the audit log is not protected against whoever can write DATA_DIR');
      const health = await (await fetch(`${plain.url}/health`)).json();
      expect(health).toMatchObject({ status: 'ok', auditLog: 'unprotected', audit: { protected: false, warning: expect.stringContaining('not protected against whoever can write DATA_DIR') } });
    } finally {
      await plain.stop();
    }
  });

  it('a witness URL: every checkpoint POSTed; one that stays down makes /health degraded, and commands go on', async () => {
    const received: unknown[] = [];
    let up = true;
    const service = http.createServer((request, response) => {
      let body = '';
      request.on('data', (c: Buffer) => (body += c.toString()));
      request.on('end', () => {
        if (request.method === 'POST' && up) received.push(JSON.parse(body));
        response.statusCode = up ? 204 : 503;
        response.end();
      });
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const port = (service.address() as { port: number }).port;
    const withUrl = await startServer({ DATA_DIR: path.join(root, 'url'), LOG_LEVEL: 'warn', AUDIT_KEY_FILE: keyFile, AUDIT_WITNESS_URL: `http://127.0.0.1:${port}/checkpoints` });
    try {
      const first = await command(withUrl.url, 'RegisterSipDomain', { domain: 'contoso.com' });
      const deadline = Date.now() + 2000;
      while (!received.some((c) => (c as { position: number }).position >= first.body.position) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(received[received.length - 1]).toMatchObject({ position: first.body.position, signature: expect.any(String) });
      up = false;
      const started = Date.now();
      const second = await command(withUrl.url, 'RegisterSipDomain', { domain: 'fabrikam.com' });
      expect(second.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1000);
      let health: { status: string; audit: { witnesses: { ok: boolean; failures: number }[] } } | undefined;
      const until = Date.now() + 8000;
      do {
        await new Promise((r) => setTimeout(r, 200));
        health = (await (await fetch(`${withUrl.url}/health`)).json()) as typeof health;
      } while (health!.status !== 'degraded' && Date.now() < until);
      expect(health).toMatchObject({ status: 'degraded', audit: { witnesses: [{ ok: false }] } });
      expect(health!.audit.witnesses[0]!.failures).toBeGreaterThanOrEqual(3);
    } finally {
      await withUrl.stop();
      service.close();
    }
  }, 30_000);
});
