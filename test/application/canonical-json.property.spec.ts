import fc from 'fast-check';
import { canonicalCopy, canonicalJson } from '../../src/application/audit';
import type { JsonValue } from '../../src/event-store/event-store';

/** The encoding every event hash is computed over: it must not depend on key order or on the path taken. */
function reference(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${reference(value[k]!)}`)
    .join(',')}}`;
}

describe('canonicalJson', () => {
  it('equals the sorted-keys encoding, whatever the key order, with or without the fast path', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const json = value as JsonValue;
        const expected = reference(json);
        expect(canonicalJson(json)).toBe(expected);
        expect(canonicalJson(canonicalCopy(json))).toBe(expected);
        expect(canonicalJson(JSON.parse(JSON.stringify(canonicalCopy(json))) as JsonValue)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a "__proto__" key, which JSON.parse makes an own property, as data', () => {
    const value = JSON.parse('[{"__proto__":"x","a":{"__proto__":{"b":1}}}]') as JsonValue;
    expect(canonicalJson(canonicalCopy(value))).toBe('[{"__proto__":"x","a":{"__proto__":{"b":1}}}]');
    expect(JSON.stringify(canonicalCopy(value))).toBe('[{"__proto__":"x","a":{"__proto__":{"b":1}}}]');
  });

  it('sorts integer-like keys as text, which the engine would otherwise put first', () => {
    expect(canonicalJson({ b: 1, '10': 2, '9': 3, a: { y: 1, x: [2, { d: null, c: true }] } })).toBe('{"10":2,"9":3,"a":{"x":[2,{"c":true,"d":null}],"y":1},"b":1}');
  });
});
