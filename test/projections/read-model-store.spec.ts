import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Projection } from '../../projections/runner/projection';
import { ProjectionTables, ReadModelReader, ReadModelWriter } from '../../projections/runner/read-model-store';
import { projectEvents, recorded } from '../../projections/runner/testing';
import { SqliteEventStore, STORE_FILE_NAME } from '../../src/event-store/sqlite/sqlite-event-store';

/** A tiny projection: `Set` puts a room's owner, `Drop` removes it, `SetTwice` changes it twice in one event. */
const rooms: Projection = {
  name: 'rooms',
  version: 1,
  tables: [
    { name: 'rooms', key: ['deployment', 'room'], columns: ['owner'], temporal: true, indexes: [['owner']] },
    { name: 'log', key: ['position'], columns: ['type'], temporal: false },
  ],
  project(event) {
    const room = { deployment: 'd', room: String(event.data['room']) };
    const log = { kind: 'put' as const, table: 'log', row: { position: event.position, type: event.type } };
    switch (event.type) {
      case 'Set':
        return [log, { kind: 'put', table: 'rooms', row: { ...room, owner: String(event.data['owner']) } }];
      case 'SetTwice':
        return [log, { kind: 'put', table: 'rooms', row: { ...room, owner: 'first' } }, { kind: 'put', table: 'rooms', row: { ...room, owner: String(event.data['owner']) } }];
      case 'Drop':
        return [log, { kind: 'delete', table: 'rooms', key: room }];
      default:
        return [];
    }
  },
};

describe('read-model store (temporal tables)', () => {
  const events = [
    recorded('r-1', 'Set', { room: 'a', owner: 'alice' }, { position: 10 }),
    recorded('r-1', 'Set', { room: 'b', owner: 'bob' }, { position: 11 }),
    recorded('r-1', 'Set', { room: 'a', owner: 'carol' }, { position: 12 }),
    recorded('r-1', 'Set', { room: 'a', owner: 'carol' }, { position: 13 }), // no change: no new version
    recorded('r-1', 'Drop', { room: 'b' }, { position: 14 }),
    recorded('r-1', 'SetTwice', { room: 'c', owner: 'dave' }, { position: 15 }),
    recorded('r-1', 'Set', { room: 'b', owner: 'erin' }, { position: 16 }),
    recorded('r-1', 'Ignored', {}, { position: 17 }),
  ];
  const reader = projectEvents(rooms, events);
  const owners = (atPosition?: number): string[] =>
    reader.rows('rooms', atPosition === undefined ? {} : { atPosition }).map((r) => `${String(r['room'])}=${String(r['owner'])}`);

  it('answers the current state', () => {
    expect(owners()).toEqual(['a=carol', 'b=erin', 'c=dave']);
  });

  it('answers the state as of any position without replaying', () => {
    expect(owners(9)).toEqual([]);
    expect(owners(10)).toEqual(['a=alice']);
    expect(owners(11)).toEqual(['a=alice', 'b=bob']);
    expect(owners(13)).toEqual(['a=carol', 'b=bob']);
    expect(owners(14)).toEqual(['a=carol']);
    expect(owners(15)).toEqual(['a=carol', 'c=dave']);
    expect(owners(16)).toEqual(['a=carol', 'b=erin', 'c=dave']);
  });

  it('filters with where, like, range, ordering, limit and a cursor', () => {
    expect(reader.rows('rooms', { where: { owner: 'erin' } }).map((r) => r['room'])).toEqual(['b']);
    expect(reader.rows('rooms', { like: { owner: '%A%' } }).map((r) => r['room'])).toEqual(['a', 'c']);
    expect(reader.rows('log', { orderBy: ['position'], descending: true, limit: 2 }).map((r) => r['position'])).toEqual([16, 15]);
    expect(reader.rows('log', { orderBy: ['position'], descending: true, limit: 2, after: { column: 'position', value: 15 } }).map((r) => r['position'])).toEqual([14, 13]);
    expect(reader.rows('log', { range: { position: { from: 12, to: 13 } } }).map((r) => r['type'])).toEqual(['Set', 'Set']);
    expect(() => reader.rows('rooms', { where: { nope: 1 } })).toThrow(/no column nope/);
  });
});

/** One row per event, its body read back with the row: from the log where it is attached, else a stored copy. */
const journal: Projection = {
  name: 'journal',
  version: 1,
  tables: [{ name: 'entries', key: ['position'], columns: ['room'], temporal: false, integerKey: true, eventBody: true, indexes: [['room', 'position']] }],
  project: (event) => [{ kind: 'put', table: 'entries', row: { position: event.position, room: String(event.data['room']) } }],
};

describe('read-model store (tables of event bodies)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-bodies-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads data and metadata from the attached log by position, stores none, and answers as the stored copy does', async () => {
    const store = new SqliteEventStore({ dataDir: dir });
    for (const [room, owner] of [['a', 'alice'], ['b', 'bob'], ['a', 'carol']] as const) {
      await store.appendToStream(`r-${room}`, [{ id: randomUUID(), type: 'Set', data: { room, owner }, metadata: { actor: owner } }], { expectedRevision: 'any' });
    }
    const events = await store.readAll();
    await store.close();

    const file = path.join(dir, 'read-models.sqlite');
    const db = new Database(file);
    const tables = new ProjectionTables(journal, 1, 'log');
    for (const statement of [...tables.ddl(), ...tables.indexDdl()]) db.exec(statement);
    const writer = new ReadModelWriter(db, tables);
    db.transaction(() => {
      for (const event of events) writer.apply(journal.project(event, writer), event.position, event);
    })();
    expect(db.prepare(`SELECT name FROM pragma_table_info('journal_g1_entries')`).pluck().all()).toEqual(['position', 'room']);
    db.close();

    const queries = new Database(file, { readonly: true });
    queries.prepare('ATTACH DATABASE ? AS log').run(path.join(dir, STORE_FILE_NAME));
    const fromLog = new ReadModelReader(queries, tables);
    const copied = projectEvents(journal, events);
    for (const query of [{}, { where: { room: 'a' }, orderBy: ['position'], descending: true, limit: 1 }, { after: { column: 'position', value: 1 } }]) {
      expect(fromLog.rows('entries', query)).toEqual(copied.rows('entries', query));
    }
    expect(fromLog.rows('entries', { where: { room: 'a' } }).map((r) => [JSON.parse(String(r['data'])), JSON.parse(String(r['metadata']))])).toEqual([
      [{ room: 'a', owner: 'alice' }, { actor: 'alice' }],
      [{ room: 'a', owner: 'carol' }, { actor: 'carol' }],
    ]);
    queries.close();
  });

  it('refuses a table of event bodies that is not keyed by the log position', () => {
    const bad: Projection = { ...journal, tables: [{ name: 'entries', key: ['room'], columns: [], temporal: false, eventBody: true }] };
    expect(() => new ProjectionTables(bad, 1)).toThrow(/keyed by the log position/);
  });
});
