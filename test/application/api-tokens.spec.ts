import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_TOKEN_STREAM, ApiTokens, credentialFingerprint, parseExpiry } from '../../src/application/api-tokens';
import type { CommandContext } from '../../src/application/audit';
import { SqliteEventStore } from '../../src/event-store/sqlite/sqlite-event-store';

const context = (actor: string): CommandContext => ({
  actor,
  roles: ['admin'],
  authenticated: true,
  commandId: '00000000-0000-4000-8000-000000000001',
  correlationId: 'c',
  causationId: null,
  reason: null,
  clientAddress: '127.0.0.1',
  occurredAt: '2026-01-01T00:00:00.000Z',
});

describe('API tokens, kept as events', () => {
  let dataDir: string;
  let store: SqliteEventStore;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-tokens-'));
    store = new SqliteEventStore({ dataDir });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('issues a token shown once, stores only a salted hash, checks it, and revokes it by name', async () => {
    const tokens = new ApiTokens(store);
    await tokens.start();
    const issued = (await tokens.issue({ name: 'ci-pipeline', role: 'operator', expiresAt: null }, context('alice')))!;
    expect(issued.secret).toMatch(/^topo_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(issued.token).toMatchObject({ name: 'ci-pipeline', role: 'operator', createdBy: 'alice', revokedAt: null });

    const [event] = await store.readStream(API_TOKEN_STREAM);
    const stored = JSON.stringify(event);
    expect(stored).not.toContain(issued.secret);
    expect(stored).not.toContain(issued.secret.slice(-43));
    expect(event!.metadata).toMatchObject({ actor: 'alice', command: 'IssueApiToken' });

    // Another instance on the same store learns of it from the stream.
    const other = new ApiTokens(store);
    await other.start();
    expect(await other.check(issued.secret)).toEqual({ ok: true, token: issued.token });
    expect(await other.check(`${issued.secret.slice(0, -1)}${issued.secret.endsWith('A') ? 'B' : 'A'}`)).toEqual({ ok: false, reason: 'unknown token' });
    expect(await other.check('topo_0000000000000000_' + 'A'.repeat(43))).toEqual({ ok: false, reason: 'unknown token' });

    await expect(tokens.issue({ name: 'ci-pipeline', role: 'reader', expiresAt: null }, context('alice'))).rejects.toMatchObject({ code: 'TOKEN_NAME_IN_USE' });
    await other.revoke('ci-pipeline', context('bob'));
    expect(await other.check(issued.secret)).toEqual({ ok: false, reason: 'token revoked' });
    // The first instance sees the revocation at its next read of the stream.
    expect((await tokens.list())[0]).toMatchObject({ name: 'ci-pipeline', revokedBy: 'bob' });
    expect(await tokens.check(issued.secret)).toEqual({ ok: false, reason: 'token revoked' });
    await expect(tokens.revoke('ci-pipeline', context('bob'))).rejects.toMatchObject({ code: 'TOKEN_NOT_FOUND' });
    tokens.onModuleDestroy();
    other.onModuleDestroy();
  });

  it('refuses an expired token, and a supplied secret (ADMIN_TOKEN) works only once issued, only if none was', async () => {
    const tokens = new ApiTokens(store);
    await tokens.start();
    const first = await tokens.issue({ name: 'admin', role: 'admin', expiresAt: null, secret: 'a-supplied-admin-token' }, context('topology-ledger'), true);
    expect(first?.secret).toBe('a-supplied-admin-token');
    expect(await tokens.issue({ name: 'admin2', role: 'admin', expiresAt: null }, context('topology-ledger'), true)).toBeUndefined();
    expect(await tokens.check('a-supplied-admin-token')).toMatchObject({ ok: true, token: { name: 'admin', role: 'admin' } });
    expect(await tokens.check('a-supplied-admin-tokeN')).toEqual({ ok: false, reason: 'unknown token' });

    const short = (await tokens.issue({ name: 'short', role: 'reader', expiresAt: '2026-01-01T01:00:00.000Z' }, context('alice')))!;
    expect(await tokens.check(short.secret, new Date('2026-01-01T00:59:59.000Z'))).toMatchObject({ ok: true });
    expect(await tokens.check(short.secret, new Date('2026-01-01T01:00:00.000Z'))).toEqual({ ok: false, reason: 'token expired' });
    tokens.onModuleDestroy();
  });

  it('hashes a supplied token with scrypt, verifies it once per process, and never spends a slow hash on a credential of the generated form', async () => {
    const tokens = new ApiTokens(store);
    await tokens.start();
    await tokens.issue({ name: 'admin', role: 'admin', expiresAt: null, secret: 'a-supplied-admin-token' }, context('topology-ledger'), true);
    const [issued] = await store.readStream(API_TOKEN_STREAM);
    expect(issued!.data['kdf']).toEqual({ name: 'scrypt', N: 16384, r: 8, p: 1 });
    const timed = async (credential: string): Promise<number> => {
      const started = process.hrtime.bigint();
      await tokens.check(credential);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const slow = await timed('a-guess-at-the-admin-token');
    expect(await tokens.check('a-supplied-admin-token')).toMatchObject({ ok: true });
    // Verified once: the same credential is then found without hashing again.
    expect(await timed('a-supplied-admin-token')).toBeLessThan(slow / 4);
    expect(await timed(`topo_0123456789abcdef_${'x'.repeat(43)}`)).toBeLessThan(slow / 4);
    tokens.onModuleDestroy();
  });

  it('refuses bad names and roles', async () => {
    const tokens = new ApiTokens(store);
    await expect(tokens.issue({ name: 'has space', role: 'reader', expiresAt: null }, context('a'))).rejects.toMatchObject({ code: 'INVALID_INPUT', details: { field: 'name' } });
    await expect(tokens.issue({ name: 'ok', role: 'root', expiresAt: null }, context('a'))).rejects.toMatchObject({ code: 'INVALID_INPUT', details: { field: 'role' } });
  });

  it('reads expiries as times or durations, in the future only', () => {
    const now = new Date('2026-01-01T00:00:00.000Z');
    expect(parseExpiry('90m', now)).toBe('2026-01-01T01:30:00.000Z');
    expect(parseExpiry('30d', now)).toBe('2026-01-31T00:00:00.000Z');
    expect(parseExpiry('2026-02-01T00:00:00Z', now)).toBe('2026-02-01T00:00:00.000Z');
    expect(parseExpiry(undefined, now)).toBeNull();
    expect(() => parseExpiry('2025-01-01T00:00:00Z', now)).toThrow(/future/);
    expect(() => parseExpiry('soon', now)).toThrow(/ISO-8601 time or a duration/);
  });

  it('fingerprints a random credential by the first 12 hex digits of its SHA-256, any other by 4: too few to confirm a guess', () => {
    const generated = `topo_0123456789abcdef_${'x'.repeat(43)}`;
    expect(credentialFingerprint(generated)).toBe(createHash('sha256').update(generated).digest('hex').slice(0, 12));
    expect(credentialFingerprint('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln')).toHaveLength(12);
    expect(credentialFingerprint('abc')).toBe('ba78');
  });
});
