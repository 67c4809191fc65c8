import * as crypto from 'node:crypto';

/**
 * What a read model keeps of an event to name, later, the fields an edit of the log changed, without
 * keeping a copy of the event: the event's fields as dotted paths (two levels deep: `data.poolFqdn`,
 * `metadata.reason`), a 3-byte fingerprint of the list of paths, and a 3-byte fingerprint of each
 * field's value, in base64url after the marker `f1.` (about 50 characters for an event of a dozen
 * fields). It names which fields changed, not what they held; a field whose edit leaves the same
 * 3 bytes (one chance in 16 million) is not named. The tamper evidence itself is the hash chain and
 * the signed checkpoints, never this.
 *
 * The fingerprint is FNV-1a (32 bits, over the text's UTF-16 code units), cut to 3 bytes. Evidence
 * without the marker, kept for events projected before 2026-12-08, took SHA-256 cut to 3 bytes: a
 * cryptographic digest gains nothing once cut to 3 bytes, and one per field was half of a rebuild's
 * CPU time (bench/README.md). It is still read: the read model is not rebuilt for the change (see the
 * audit digest's version). FNV-1a is a few lines with no library to prefer: Node's crypto has no
 * non-cryptographic hash.
 */
const BYTES = 3;
const MARKER = 'f1.';

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

/** FNV-1a, 32 bits, over the UTF-16 code units of `text`. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const valueText = (value: unknown): string => JSON.stringify(value) ?? 'undefined';
const pathsText = (fields: Fields): string => fields.map(([path]) => path).join('\n');

/** The evidence of an event, as a read model keeps it. */
export function fieldEvidence(event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): string {
  const fields = eventFields(event);
  const bytes = Buffer.allocUnsafe(BYTES * (fields.length + 1));
  bytes.writeUIntBE(fnv1a(pathsText(fields)) & 0xffffff, 0, BYTES);
  fields.forEach(([, value], i) => bytes.writeUIntBE(fnv1a(valueText(value)) & 0xffffff, BYTES * (i + 1), BYTES));
  return MARKER + bytes.toString('base64url');
}

/** The digest of version-2 evidence (no marker): SHA-256 cut to 3 bytes. */
const sha256Prefix = (text: string): Buffer =>
  (typeof crypto.hash === 'function' ? crypto.hash('sha256', text, 'buffer') : crypto.createHash('sha256').update(text).digest()).subarray(0, BYTES);

/**
 * The fields of `event` (the log now) whose values differ from those `evidence` was taken of; `undefined`
 * when the event's fields themselves differ (a field added or removed: which one cannot be told).
 */
export function changedFields(evidence: string, event: { readonly type: string; readonly data: unknown; readonly metadata: unknown }): Fields | undefined {
  const current = evidence.startsWith(MARKER);
  const kept = Buffer.from(current ? evidence.slice(MARKER.length) : evidence, 'base64url');
  const digest = current
    ? (text: string): Buffer => {
        const bytes = Buffer.allocUnsafe(BYTES);
        bytes.writeUIntBE(fnv1a(text) & 0xffffff, 0, BYTES);
        return bytes;
      }
    : sha256Prefix;
  const fields = eventFields(event);
  if (!kept.subarray(0, BYTES).equals(digest(pathsText(fields))) || kept.length !== BYTES * (fields.length + 1)) return undefined;
  return fields.filter(([, value], i) => !kept.subarray(BYTES * (i + 1), BYTES * (i + 2)).equals(digest(valueText(value))));
}
