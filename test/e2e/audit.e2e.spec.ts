import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer } from '../support/server';

/**
 * Tamper evidence and the compliance report end to end: the built server over HTTP, then `topo` as
 * a real process on the same DATA_DIR, then on copies of it edited directly in SQLite.
 */
describe('audit: digest, verify and the compliance report', () => {
  let dataDir: string;
  let server: RunningServer;
  let start: string;
  let end: string;
  let last: number;
  const scratch: string[] = [];

  const topo = (dir: string, ...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'topo.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dir, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 60_000,
    });
  const get = async (pathAndQuery: string) => {
    const response = await fetch(`${server.url}${pathAndQuery}`, { headers: bearer() });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type') ?? '', headers: response.headers, text, json: () => JSON.parse(text) };
  };
  /** A copy of the stopped server's DATA_DIR, to tamper with. */
  const copy = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-audit-copy-'));
    for (const file of fs.readdirSync(dataDir)) if (file.startsWith('events.sqlite')) fs.copyFileSync(path.join(dataDir, file), path.join(dir, file));
    scratch.push(dir);
    return dir;
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-audit-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    start = new Date(Date.now() - 1000).toISOString();
    await seedTopology(server.url);
    await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    const refused = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:ocschat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(refused.status).toBe(409);
    await command(server.url, 'DeleteSipPrincipal', { sipAddress: 'sip:ocschat@contoso.com' }, { headers: { 'x-reason': 'CHG-7 migration window' } });
    const removed = await command(server.url, 'RemoveEndpoint', { identity: 'sip:persistentchat@contoso.com' }, { headers: { 'x-reason': 'CHG-8 <retired>' } });
    expect(removed.status).toBe(200);
    last = removed.body.position as number;
    end = new Date(Date.now() + 1000).toISOString();
  });
  afterAll(async () => {
    await server.stop();
    for (const dir of [dataDir, ...scratch]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/audit/digest commits to the log up to its head', async () => {
    const response = await get(`/api/audit/digest?minPosition=${last}`);
    expect(response.status).toBe(200);
    const digest = response.json();
    expect(digest).toMatchObject({ algorithm: 'sha256-chain-v1', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The refusal record may land after the last command: the head is at least the last change.
    expect(digest.position).toBeGreaterThanOrEqual(last);
    expect(digest.events).toBeGreaterThanOrEqual(7);
    expect(digest.digest).toBe(`${digest.position}:${digest.hash}`);
  });

  it('the JSON report lists changes with before → after, reasons, refusals, summaries and the digest', async () => {
    const response = await get(`/api/compliance/report?from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}&minPosition=${last}`);
    expect(response.status).toBe(200);
    const report = response.json();
    expect(report).toMatchObject({ deployment: 'default', from: start, to: end });
    const created = report.changes.find((c: { eventType: string }) => c.eventType === 'PersistentChatEndpointCreated');
    expect(created).toMatchObject({ actor: 'admin', command: 'CreateEndpoint', entity: { kind: 'endpoint', id: 'sip:persistentchat@contoso.com' }, before: null });
    expect(created.after).toMatchObject({ sipAddress: 'sip:persistentchat@contoso.com', poolFqdn: 'pcpool.contoso.com' });
    const removed = report.changes.find((c: { eventType: string }) => c.eventType === 'PersistentChatEndpointRemoved');
    expect(removed).toMatchObject({ command: 'RemoveEndpoint', reason: 'CHG-8 <retired>', after: null, before: created.after });
    expect(report.changes.find((c: { eventType: string }) => c.eventType === 'SipPrincipalDeleted')).toMatchObject({ reason: 'CHG-7 migration window' });
    expect(report.refused).toEqual([expect.objectContaining({ command: 'CreateEndpoint', status: 409, errorCode: 'SIP_ADDRESS_IN_USE', actor: 'admin' })]);
    expect(report.denied).toEqual([]);
    expect(report.summary.actors).toEqual([{ actor: 'admin', changes: report.changes.length, migrationEvents: 0, refused: 1, denied: 0 }]);
    expect(report.summary.entities).toEqual(
      expect.arrayContaining([{ kind: 'endpoint', id: 'sip:persistentchat@contoso.com', changes: 2, migrationEvents: 0, refused: 0, denied: 0 }]),
    );
    expect(report.digest).toMatchObject({ algorithm: 'sha256-chain-v1', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(report.digest.position).toBeGreaterThanOrEqual(last);

    const before = await get(`/api/compliance/report?from=2020-01-01&to=2020-01-31`);
    expect(before.json()).toMatchObject({ changes: [], refused: [], digest: null });
  });

  it('CSV and printable HTML carry the same entries', async () => {
    const query = `from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}`;
    const csv = await get(`/api/compliance/report?${query}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.type).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe(
      'section,position,occurred_at,actor,roles,command,entity_kind,entity_id,event_type,before,after,reason,migration_id,status,error_code,message,authenticated,client_address,correlation_id,command_id,migration_step,changes',
    );
    expect(lines.filter((l) => l.startsWith('refused,'))).toHaveLength(1);
    const retired = lines.find((l) => l.startsWith('change,') && l.includes('CHG-8 <retired>'))!;
    // Every field the JSON carries: authenticated, client address, correlation and command ids; and the changes readable.
    expect(retired).toMatch(/,true,[^,]*127\.0\.0\.1,[0-9a-f-]{36},[0-9a-f-]{36},,"[^"]*sipAddress: sip:persistentchat@contoso\.com → \(removed\)/);
    expect(lines.find((l) => l.startsWith('digest,'))).toMatch(/^digest,\d+,,,,,,,sha256-chain-v1,,[0-9a-f]{64},/);
    // What the report rests on: the reason policy, the signing key (none here, said plainly), the latest checkpoint.
    expect(lines.find((l) => l.startsWith('reason_policy,'))).toContain('configured (REASON_REQUIRED_FOR): none');
    expect(lines.find((l) => l.startsWith('signing_key,'))).toContain('none: no AUDIT_KEY_FILE, so the log is not protected');
    expect(lines[lines.length - 1]).toBe('checkpoint,,,,,,,,,,,,,,,no signed checkpoint,,,,,,');

    const html = await get(`/api/compliance/report?${query}&format=html`);
    expect(html.status).toBe(200);
    expect(html.type).toMatch(/^text\/html/);
    expect(html.text).toContain('@media print');
    // Styled when opened from the API: its own style sheet allowed by hash, nothing else.
    const policy = html.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; /);
    const css = /<style>([\s\S]*?)<\/style>/.exec(html.text)![1]!;
    expect(policy).toContain(`'sha256-${crypto.createHash('sha256').update(css).digest('base64')}'`);
    expect(html.text).toContain('<b>sipAddress</b>: <span class="v">sip:persistentchat@contoso.com</span> → <i>removed</i>');
    expect(html.text).toContain('none: no AUDIT_KEY_FILE, so the log is not protected');
    expect(html.text).toContain('CHG-8 &lt;retired&gt;');
    expect(html.text).not.toContain('CHG-8 <retired>');
    expect(html.text).toContain('SIP_ADDRESS_IN_USE');
  });

  it('an auditor with a token and no file access: topo audit digest, verify and report compliance through --server --token', async () => {
    const created = await fetch(`${server.url}/api/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer() },
      body: JSON.stringify({ name: 'external-auditor', role: 'auditor' }),
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    // Another DATA_DIR: nothing is read from the server's files.
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-auditor-'));
    scratch.push(elsewhere);
    const digest = topo(elsewhere, 'audit', 'digest', '--server', server.url, '--token', secret);
    expect(digest.stderr).toBe('');
    expect(digest.status).toBe(0);
    expect(digest.stdout.trim()).toMatch(/^\d+:[0-9a-f]{64}$/);
    const verified = topo(elsewhere, 'audit', 'verify', '--server', server.url, '--token', secret);
    expect(verified.status).toBe(0);
    expect(verified.stdout).toMatch(/^verified \d+ events on the server$/m);
    const report = topo(elsewhere, 'report', 'compliance', '--from', start, '--to', end, '--format', 'csv', '--server', server.url, '--token', secret);
    expect(report.status).toBe(0);
    expect(report.stdout).toContain('SIP_ADDRESS_IN_USE');
    // A reader may not.
    const denied = topo(elsewhere, 'audit', 'verify', '--server', server.url, '--token', 'not-a-token-at-all-0000');
    expect(denied.status).toBe(1);
    // This process's pooled connection sat idle while those ran: use it now, before the server's keep-alive closes it.
    expect((await get('/health')).status).toBe(200);
  });

  it('refuses a bad period or format with 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['from=yesterday&to=2026-01-01', 'from'],
      ['from=2026-01-01', 'to'],
      ['to=2026-01-01', 'from'],
      ['from=2026-02-01&to=2026-01-01', 'to'],
      ['from=2026-01-01&to=2026-01-31&format=xml', 'format'],
      ['from=2026-01-01&to=2026-01-31&deployment=Bad%20Name', 'deployment'],
    ];
    for (const [query, field] of cases) {
      const response = await get(`/api/compliance/report?${query}`);
      expect({ query, status: response.status }).toEqual({ query, status: 400 });
      expect(response.json().error).toMatchObject({ code: 'INVALID_INPUT', details: expect.objectContaining({ field }) });
    }
  });

  describe('topo, after the server stopped', () => {
    let digest: string;
    beforeAll(async () => {
      digest = (await get(`/api/audit/digest?minPosition=${last}`)).json().digest;
      await server.stop();
    });

    it('audit verify: every link holds, and the saved digest matches', () => {
      const result = topo(dataDir, 'audit', 'verify');
      // Without a witness, it says what the chain alone cannot show.
      expect(result.stderr.trim()).toMatch(/^warning: not checked against signed checkpoints/);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^verified \d+ events in [\d.]+ s$/m);
      const withDigest = topo(dataDir, 'audit', 'verify', '--digest', digest);
      expect(withDigest.status).toBe(0);
      expect(withDigest.stdout).toContain(`digest at position ${digest.split(':')[0]} matches`);
      const json = topo(dataDir, 'audit', 'verify', '--json');
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, broken: null, unchained: 0 });
    });

    it('audit verify: an edited row is reported by stream and revision, exit 1', () => {
      const dir = copy();
      const db = new Database(path.join(dir, 'events.sqlite'));
      const row = db.prepare(`SELECT stream_id, revision FROM events WHERE type = 'PersistentChatEndpointCreated'`).get() as { stream_id: string; revision: number };
      db.prepare(`UPDATE events SET data = replace(data, 'pcpool.contoso.com', 'evil.contoso.com') WHERE stream_id = ? AND revision = ?`).run(row.stream_id, row.revision);
      db.close();
      const result = topo(dir, 'audit', 'verify');
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`BROKEN: altered at stream ${row.stream_id} revision ${row.revision}`);
    });

    it('audit verify: a deleted row is reported as its stream\'s missing revision; a saved digest catches a deleted last event', () => {
      const dir = copy();
      const db = new Database(path.join(dir, 'events.sqlite'));
      db.prepare(`DELETE FROM events WHERE stream_id = 'topology-default' AND revision = 2`).run();
      db.close();
      const result = topo(dir, 'audit', 'verify');
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('BROKEN: missing at stream topology-default revision 2');

      const tail = copy();
      const db2 = new Database(path.join(tail, 'events.sqlite'));
      db2.prepare(`DELETE FROM events WHERE position = (SELECT max(position) FROM events)`).run();
      db2.close();
      expect(topo(tail, 'audit', 'verify').status).toBe(0);
      const checked = topo(tail, 'audit', 'verify', '--digest', digest);
      expect(checked.status).toBe(1);
      expect(checked.stderr).toContain('BROKEN: digest_mismatch');
    });

    it('audit verify refuses a malformed digest with exit 2', () => {
      const result = topo(dataDir, 'audit', 'verify', '--digest', 'nonsense');
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('--digest must be <position>:<64 hex digits>');
    });

    it('report compliance prints the report of a period from the local store', () => {
      const result = topo(dataDir, 'report', 'compliance', '--from', start, '--to', end, '--format', 'csv');
      expect(result.status).toBe(0);
      expect(result.stdout.split('\r\n')[0]).toMatch(/^section,position,occurred_at,actor/);
      expect(result.stdout).toContain('SIP_ADDRESS_IN_USE');
      const bad = topo(dataDir, 'report', 'compliance', '--from', 'soon', '--to', end);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('INVALID_INPUT');
      expect(bad.stderr).toContain('from');
    });
  });
});
