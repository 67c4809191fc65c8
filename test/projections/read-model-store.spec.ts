import type { Projection } from '../../projections/runner/projection';
import { projectEvents, recorded } from '../../projections/runner/testing';

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
