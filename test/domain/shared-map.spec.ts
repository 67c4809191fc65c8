import fc from 'fast-check';
import { SharedMap } from '../../src/domain/shared/shared-map';
import { decide, foldTopology, TopologyFold, type TopologyCommand } from '../../src/domain/topology';

type Op = { readonly kind: 'set'; readonly key: number; readonly value: string } | { readonly kind: 'delete'; readonly key: number } | { readonly kind: 'version' };

const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 200 }), value: fc.string({ maxLength: 3 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 200 }) }),
    fc.record({ kind: fc.constant('version' as const) }),
  ),
  { maxLength: 800 },
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
      { numRuns: 200 },
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

  it('a draft takes no write once done, so the version given out cannot change', () => {
    const draft = SharedMap.empty<string, number>().edit().set('a', 1);
    const kept = draft.done();
    expect(() => draft.set('a', 2)).toThrow(/no writes once done/);
    expect(() => draft.delete('a')).toThrow(/no writes once done/);
    expect([...kept]).toEqual([['a', 1]]);
  });

  it('versions made one write at a time from a large map, past many foldings of their changes, each stay as they were', () => {
    let version = SharedMap.empty<number, number>();
    const model = new Map<number, number>();
    const kept: { version: SharedMap<number, number>; expected: [number, number][] }[] = [];
    const draft = version.edit();
    for (let i = 0; i < 5000; i++) {
      draft.set(i, i);
      model.set(i, i);
    }
    version = draft.done();
    for (let step = 0; step < 600; step++) {
      const next = version.edit();
      const key = (step * 7919) % 6000;
      if (step % 3 === 0) {
        next.delete(key);
        model.delete(key);
      } else {
        next.set(key, -step);
        model.set(key, -step);
      }
      version = next.done();
      if (step % 50 === 0) kept.push({ version, expected: [...model] });
    }
    for (const { version: v, expected } of kept) {
      expect(v.size).toBe(expected.length);
      expect([...v]).toEqual(expected);
    }
  });

  it('forEach passes value, key and the map, as Map.forEach does', () => {
    const map = SharedMap.empty<string, number>().edit().set('x', 1).set('y', 2).done();
    const seen: unknown[] = [];
    map.forEach((value, key, whole) => seen.push([key, value, whole === map]));
    expect(seen).toEqual([['x', 1, true], ['y', 2, true]]);
  });
});

describe('TopologyFold: a state given out by result() never changes', () => {
  it('writes after result() leave the state given out as it was, every collection alike', () => {
    const fold = new TopologyFold(foldTopology([]));
    const first = (command: unknown): void => fold.apply(decide(command as TopologyCommand, fold.state).events);
    first({ type: 'RegisterSipDomain', domain: 'a.com', isDefault: true });
    const given = fold.result();
    const before = JSON.stringify([...given.sipDomains]);
    first({ type: 'RegisterSipDomain', domain: 'b.com' });
    first({ type: 'InstallPersistentChatPool', fqdn: 'pc.a.com', servers: ['pc1.a.com'] });
    expect(JSON.stringify([...given.sipDomains])).toBe(before);
    expect(given.persistentChatPools.size).toBe(0);
    expect(given.defaultPoolContacts.size).toBe(0);
    expect(fold.result().sipDomains.size).toBe(2);
  });
});
