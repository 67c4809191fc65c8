import fc from 'fast-check';
import { SharedMap } from '../../src/domain/shared/shared-map';

type Op = { readonly kind: 'set'; readonly key: number; readonly value: string } | { readonly kind: 'delete'; readonly key: number } | { readonly kind: 'version' };

const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), value: fc.string({ maxLength: 3 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('version' as const) }),
  ),
  { maxLength: 200 },
);

describe('SharedMap: a state collection whose versions share structure', () => {
  it('reads, and iterates in insertion order, exactly as a Map given the same writes; every version kept stays as it was', () => {
    fc.assert(
      fc.property(ops, (script: Op[]) => {
        const versions: { shared: SharedMap<number, string>; expected: [number, string][] }[] = [];
        let shared = SharedMap.empty<number, string>();
        let draft = shared.edit();
        const model = new Map<number, string>();
        for (const op of script) {
          if (op.kind === 'set') {
            draft.set(op.key, op.value);
            model.set(op.key, op.value);
          } else if (op.kind === 'delete') {
            expect(draft.delete(op.key)).toBe(model.delete(op.key));
          } else {
            shared = draft.done();
            versions.push({ shared, expected: [...model] });
            draft = shared.edit();
          }
          // The draft reads as the map with its writes made.
          expect([...draft]).toEqual([...model]);
          expect(draft.size).toBe(model.size);
        }
        for (const { shared: version, expected } of versions) {
          expect([...version.entries()]).toEqual(expected);
          expect([...version.keys()]).toEqual(expected.map(([k]) => k));
          expect([...version.values()]).toEqual(expected.map(([, v]) => v));
          for (const [k, v] of expected) expect(version.get(k)).toBe(v);
          expect(version.size).toBe(expected.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a draft taken from a draft leaves the first one as it was, and the first one goes on taking writes', () => {
    const base = SharedMap.empty<string, number>().edit().set('a', 1).set('b', 2).done();
    const outer = base.edit();
    outer.set('c', 3);
    const inner = outer.edit();
    inner.set('a', 10);
    inner.delete('b');
    expect([...outer]).toEqual([['a', 1], ['b', 2], ['c', 3]]);
    outer.set('d', 4);
    expect([...inner]).toEqual([['a', 10], ['c', 3]]);
    expect([...outer.done()]).toEqual([['a', 1], ['b', 2], ['c', 3], ['d', 4]]);
    expect([...base]).toEqual([['a', 1], ['b', 2]]);
  });

  it('a write after done() starts a new version and leaves the one given out alone', () => {
    const draft = SharedMap.empty<string, number>().edit().set('a', 1);
    const kept = draft.done();
    draft.set('a', 2).set('b', 3);
    expect([...kept]).toEqual([['a', 1]]);
    expect([...draft]).toEqual([['a', 2], ['b', 3]]);
  });

  it('forEach passes value, key and the map, as Map.forEach does', () => {
    const map = SharedMap.empty<string, number>().edit().set('x', 1).set('y', 2).done();
    const seen: unknown[] = [];
    map.forEach((value, key, whole) => seen.push([key, value, whole === map]));
    expect(seen).toEqual([['x', 1, true], ['y', 2, true]]);
  });
});
