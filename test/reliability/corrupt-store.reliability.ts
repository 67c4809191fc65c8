import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';
import { command, seedTopology } from '../support/http';
import { runUntilExit, startServer } from '../support/server';
import { tempDir } from './support';

/**
 * Flipped bytes in the SQLite file: the process refuses to start with one clear line on stderr,
 * exits non-zero, and leaves the file byte for byte as it found it.
 */

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

interface Damage {
  readonly label: string;
  /** Offsets to flip (every bit: byte ^ 0xff), computed from the file's page size and page count. */
  offsets(pageSize: number, pages: number): number[];
}

const damages: Damage[] = [
  { label: 'the header magic', offsets: () => [0, 1] },
  { label: 'the page size in the header', offsets: () => [16, 17] },
  { label: 'the schema page (sqlite_master) near its end, where the CREATE statements live', offsets: (size) => [size - 40, size - 41, size - 42] },
  { label: 'the b-tree header of the second page', offsets: (size) => [size] },
  { label: 'the b-tree headers of a page in the middle and the last page', offsets: (size, pages) => [Math.floor(pages / 2) * size, (pages - 1) * size] },
  { label: 'the last page header and its cell pointers', offsets: (size, pages) => [(pages - 1) * size, (pages - 1) * size + 3, (pages - 1) * size + 8, (pages - 1) * size + 9] },
];

describe('a corrupt store file', () => {
  let dataDir: string;
  let pristine: Buffer;
  let pageSize: number;
  let pages: number;

  beforeAll(async () => {
    dataDir = tempDir('corrupt');
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    for (let i = 0; i < 300; i++) {
      const reply = await command(server.url, 'CreateEndpoint', { sipAddress: `sip:room${i}@contoso.com`, persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: `Room ${i}` });
      expect(reply.status).toBe(200);
    }
    expect(await server.stop()).toBe(0);
    // Everything into the main file, so that the flipped bytes are the only copy of what they hit.
    const file = path.join(dataDir, STORE_FILE_NAME);
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    pristine = fs.readFileSync(file);
    pages = pristine.length / pageSize;
    expect(pages).toBeGreaterThan(8);
  }, 120_000);
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it.each(damages)('flipped bytes in $label: refused at start, one line, exit non-zero, file untouched', async (damage) => {
    const file = path.join(dataDir, STORE_FILE_NAME);
    const bytes = Buffer.from(pristine);
    for (const offset of damage.offsets(pageSize, pages)) bytes[offset] = bytes[offset]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    const before = sha256(file);

    const { code, stderr } = await runUntilExit({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    const lines = stderr.trim().split('\n');
    expect({ code: code !== 0 && code !== null, lines: lines.length }).toEqual({ code: true, lines: 1 });
    expect(lines[0]).toMatch(/^topology-ledger: .*(events\.sqlite|SQLite file).*(corrupt|damaged|not a topology-ledger event store|unknown schema).*(not modified|without modifying it)/);
    expect(sha256(file)).toBe(before);
  }, 60_000);

  it('the untouched file still starts', async () => {
    fs.writeFileSync(path.join(dataDir, STORE_FILE_NAME), pristine);
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    expect(await server.stop()).toBe(0);
  }, 60_000);
});
