import type { LogDigest } from '../../src/event-store/chain-hash';
import { EMPTY_LOG_DIGEST, LOG_DIGEST_ALGORITHM } from '../../src/event-store/chain-hash';
import type { TableReader } from '../runner/projection';
import { DIGEST_TABLES } from './audit-digest.projection';

/** The store-wide digest after the last event at or before `atPosition` (default: the newest the read model has). */
export function logDigestAt(reader: TableReader, atPosition?: number): LogDigest {
  const [row] = reader.rows(DIGEST_TABLES.log, {
    ...(atPosition !== undefined ? { range: { position: { to: atPosition } } } : {}),
    orderBy: ['position'],
    descending: true,
    limit: 1,
  });
  if (row === undefined) return { position: 0, hash: EMPTY_LOG_DIGEST, events: 0, algorithm: LOG_DIGEST_ALGORITHM };
  return { position: Number(row['position']), hash: String(row['hash']), events: Number(row['events']), algorithm: LOG_DIGEST_ALGORITHM };
}
