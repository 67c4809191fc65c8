import * as crypto from 'node:crypto';

/**
 * What a read model keeps of an event to name, later, the fields an edit of the log changed, without
 * keeping a copy of the event: the event's fields as dotted paths (two levels deep: `data.poolFqdn`,
 * `metadata.reason`), a 3-byte digest of the list of paths, and a 3-byte digest of each field's value,
 * in base64url (about 50 characters for an event of a dozen fields). It names which fields changed,
 * not what they held; a field whose edit leaves the same 3 bytes (one chance in 16 million) is not named.
 * The tamper evidence itself is the hash chain and the signed checkpoints, never this.
 */
const BYTES = 3;

type Fields = ReadonlyArray<readonly [path: string, value: unknown]>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The event's fields, flattened to dotted paths two levels deep, sorted by path. */
export function eventFields(event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): Fields {
  const fields: Array<[string, unknown]> = [];
  const walk = (path: string, value: unknown, depth: number): void => {
    if (depth < 3 && isObject(value)) {
      for (const key of Object.keys(value).sort()) walk(`${path}.${key}`, value[key], depth + 1);
      return;
    }
    fields.push([path, value]);
  };
  fields.push(['type', event.type]);
  walk('data', event.data, 1);
  walk('metadata', event.metadata, 1);
  return fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** One-shot `crypto.hash` (Node 20.12+) where there is one: a Hash object per field costs about twice as much. */
const digest = (text: string): Buffer =>
  (typeof crypto.hash === 'function' ? crypto.hash('sha256', text, 'buffer') : crypto.createHash('sha256').update(text).digest()).subarray(0, BYTES);

/** The evidence of an event, as a read model keeps it. */
export function fieldEvidence(event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): string {
  const fields = eventFields(event);
  return Buffer.concat([digest(fields.map(([path]) => path).join('\n')), ...fields.map(([, value]) => digest(JSON.stringify(value) ?? 'undefined'))]).toString('base64url');
}

/**
 * The fields of `event` (the log now) whose values differ from those `evidence` was taken of; `undefined`
 * when the event's fields themselves differ (a field added or removed: which one cannot be told).
 */
export function changedFields(evidence: string, event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): Fields | undefined {
  const kept = Buffer.from(evidence, 'base64url');
  const fields = eventFields(event);
  if (!kept.subarray(0, BYTES).equals(digest(fields.map(([path]) => path).join('\n'))) || kept.length !== BYTES * (fields.length + 1)) return undefined;
  return fields.filter(([, value], i) => !kept.subarray(BYTES * (i + 1), BYTES * (i + 2)).equals(digest(JSON.stringify(value) ?? 'undefined')));
}
