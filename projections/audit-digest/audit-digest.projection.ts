import type { RecordedEvent } from '../../src/event-store/event-store';
import { fieldEvidence } from '../../src/event-store/field-evidence';
import { EMPTY_LOG_DIGEST, hashOfRecorded, nextLogDigest } from '../../src/event-store/chain-hash';
import type { Change, Projection, ReadModelView } from '../runner/projection';

/**
 * The store-wide digest (see `LOG_DIGEST_ALGORITHM`) after every event of the log, so that the
 * digest now, or at the end of a report's period, is one indexed read. It takes each event's
 * recorded hash (the hash an unchained event would have, for those written before the chain):
 * `topo audit verify` is what recomputes them from the events' content. Each row also keeps the
 * event's field evidence (`fields`, see `fieldEvidence`), by which a verification names the fields an
 * edit of the log changed, without a copy of the event.
 */

export const DIGEST_TABLES = {
  /** The running digest: one row. */
  head: 'head',
  /** The digest after each event, by position, and the event's field evidence. */
  log: 'log',
} as const;

const HEAD_KEY = { id: 1 } as const;

export const auditDigestProjection: Projection = {
  name: 'audit_digest',
  /**
   * Not raised when the field evidence's fingerprints became FNV-1a (they were SHA-256): the evidence
   * says which it is (`fieldEvidence`), old rows keep answering, and no rebuild is forced on an upgrade,
   * which on a log edited before the upgrade would replace the evidence that names the edit.
   */
  version: 2,
  tables: [
    { name: DIGEST_TABLES.head, key: ['id'], columns: ['position', 'events', 'hash'], temporal: false },
    { name: DIGEST_TABLES.log, key: ['position'], columns: ['events', 'hash', 'fields'], temporal: false, integerKey: true },
  ],
  project(event: RecordedEvent, view: ReadModelView): readonly Change[] {
    const head = view.get(DIGEST_TABLES.head, HEAD_KEY);
    const previous = typeof head?.['hash'] === 'string' ? head['hash'] : EMPTY_LOG_DIGEST;
    const events = (typeof head?.['events'] === 'number' ? head['events'] : 0) + 1;
    const hash = nextLogDigest(previous, hashOfRecorded(event));
    return [
      { kind: 'put', table: DIGEST_TABLES.head, row: { ...HEAD_KEY, position: event.position, events, hash } },
      { kind: 'put', table: DIGEST_TABLES.log, row: { position: event.position, events, hash, fields: fieldEvidence(event) } },
    ];
  },
};
