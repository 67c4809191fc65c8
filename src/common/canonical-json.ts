import type { JsonValue } from './json';

/**
 * Canonical JSON: object keys sorted, so that equal values always encode the same. The audit
 * metadata (command fingerprints) and the hash chain (what each event's hash covers) both rely on it.
 */

/** JSON with object keys sorted, so equal values always encode the same. */
export function canonicalJson(value: JsonValue | undefined): string {
  // A value whose objects already hold their keys in order encodes the same through the engine's
  // own JSON.stringify, several times faster: the hash chain writes its events that way.
  if (value !== undefined && inCanonicalOrder(value)) return JSON.stringify(value);
  return sortedJson(value);
}

function sortedJson(value: JsonValue | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(',')}}`;
}

/** Whether JSON.stringify gives exactly `sortedJson`: plain objects with ascending keys, no undefined anywhere. */
function inCanonicalOrder(value: JsonValue | undefined): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!inCanonicalOrder(value[i])) return false;
    return true;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  let previous: string | undefined;
  for (const key of Object.keys(value)) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    if (!inCanonicalOrder(value[key])) return false;
  }
  return true;
}

/** A copy of a JSON value with every object's keys in canonical (sorted) order. */
export function canonicalCopy<T extends JsonValue>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => canonicalCopy(v)) as T;
  const copy: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (v === undefined) continue;
    // A `__proto__` key (JSON.parse makes it an own property) is defined, not assigned: assigning it would set the prototype and lose it.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: canonicalCopy(v), enumerable: true, writable: true, configurable: true });
    else copy[key] = canonicalCopy(v);
  }
  return copy as T;
}
