import type { Row, RowQuery, SqlValue, TableReader } from '../runner/projection';
import { DIRECTORY_TABLE, type DirectoryEntryKind, type DirectoryPoolKind } from './endpoint-directory.projection';
import { distinguishedNameKey } from '../../src/domain/shared/distinguished-name';

/** One address of the directory, as `GET /api/endpoints` and `topo Get-CsPersistentChatEndpoint` show it. */
export type DirectoryEntry = {
  sipAddress: string;
  kind: DirectoryEntryKind;
  /** The pool the address reaches. */
  poolFqdn: string;
  poolKind: DirectoryPoolKind;
  displayName: string | null;
  /** The contact object's distinguished name; null for well-known users and default pool contacts. */
  distinguishedName: string | null;
};

/** The filters of `Get-CsPersistentChatEndpoint`. */
export interface EndpointQuery {
  readonly deployment: string;
  /**
   * `-Identity` (R6): a SIP address (`sip:...`), a distinguished name (`CN=...`) or a display name,
   * recognised in that order as `Remove-CsPersistentChatEndpoint` does, compared without regard
   * to case. `*` is a wildcard. A display name may match several endpoints: all are returned.
   */
  readonly identity?: string;
  /** `-PersistentChatPoolFqdn`: only addresses reaching this pool. */
  readonly pool?: string;
  /**
   * `-Filter` / HTTP `sipAddress=`: a SIP address pattern where `*` matches anything, without
   * regard to case. The `sip:` prefix may be left out.
   */
  readonly filter?: string;
  /** `-ResultSize`. */
  readonly resultSize?: number;
  /** The directory as of this log position (inclusive); omitted: now. */
  readonly atPosition?: number;
  /** Also well-known users and default pool contacts; by default only Persistent Chat endpoints, as the cmdlet. */
  readonly includeAll?: boolean;
}

/** The addresses matching `query`, sorted by SIP address. */
export function findEndpoints(reader: TableReader, query: EndpointQuery): DirectoryEntry[] {
  const where: Record<string, SqlValue> = { deployment: query.deployment };
  const like: Record<string, string> = {};
  if (query.includeAll !== true) where['kind'] = 'endpoint';
  if (query.pool !== undefined) where['pool_fqdn'] = query.pool.trim().toLowerCase();
  if (query.identity !== undefined) {
    const { column, value } = identityColumn(query.identity);
    if (value.includes('*')) like[column] = wildcardToLike(value);
    else where[column] = value;
  }
  // Two patterns on the SIP address (a wildcard identity and a filter) cannot share the `like` map: the filter then narrows in memory.
  let narrowing: string | undefined;
  if (query.filter !== undefined) {
    const pattern = sipAddressPattern(query.filter);
    if (like['sip_address'] === undefined) like['sip_address'] = wildcardToLike(pattern);
    else narrowing = pattern;
  }
  const rowQuery: RowQuery = {
    where,
    like,
    orderBy: ['sip_address'],
    ...(query.resultSize !== undefined && narrowing === undefined ? { limit: query.resultSize } : {}),
    ...(query.atPosition !== undefined ? { atPosition: query.atPosition } : {}),
  };
  const entries = reader.rows(DIRECTORY_TABLE, rowQuery).map(directoryEntry);
  if (narrowing === undefined) return entries;
  const pattern = narrowing;
  return entries.filter((entry) => wildcardMatches(pattern, entry.sipAddress)).slice(0, query.resultSize);
}

/** Which pool `sipAddress` reaches in `deployment` (now, or as of `atPosition`), whoever owns it; null when none. */
export function resolveSipAddress(reader: TableReader, deployment: string, sipAddress: string, atPosition?: number): DirectoryEntry | null {
  const query: RowQuery = { where: { deployment, sip_address: sipAddress.trim().toLowerCase() }, limit: 1 };
  const [row] = reader.rows(DIRECTORY_TABLE, atPosition === undefined ? query : { ...query, atPosition });
  return row ? directoryEntry(row) : null;
}

/** A `*` wildcard pattern as a SQL LIKE pattern escaped with `\`, so `%` and `_` match only themselves. */
export function wildcardToLike(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (character) => `\\${character}`).replace(/\*/g, '%');
}

/** The column an identity names and the value to compare, lower-cased as the stored keys are. */
function identityColumn(identity: string): { column: string; value: string } {
  const value = identity.trim().toLowerCase();
  if (value.startsWith('sip:')) return { column: 'sip_address', value };
  if (value.startsWith('cn=')) return { column: 'distinguished_name_key', value: distinguishedNameKey(value) };
  return { column: 'display_name_key', value };
}

function sipAddressPattern(filter: string): string {
  const pattern = filter.trim().toLowerCase();
  return pattern.startsWith('sip:') || pattern.startsWith('*') ? pattern : `sip:${pattern}`;
}

function wildcardMatches(pattern: string, value: string): boolean {
  const expression = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${expression}$`, 'i').test(value);
}

const KINDS = ['endpoint', 'wellKnownUser', 'defaultPoolContact'] as const satisfies readonly DirectoryEntryKind[];
const POOL_KINDS = ['persistentChat', 'legacyGroupChat'] as const satisfies readonly DirectoryPoolKind[];

function directoryEntry(row: Row): DirectoryEntry {
  return {
    sipAddress: text(row, 'sip_address'),
    kind: oneOf(row, 'kind', KINDS),
    poolFqdn: text(row, 'pool_fqdn'),
    poolKind: oneOf(row, 'pool_kind', POOL_KINDS),
    displayName: optionalText(row, 'display_name'),
    distinguishedName: optionalText(row, 'distinguished_name'),
  };
}

function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw new Error(`endpoint directory: unexpected value ${JSON.stringify(value ?? null)} in column ${column}`);
  return value;
}

function optionalText(row: Row, column: string): string | null {
  const value = row[column] ?? null;
  return value === null ? null : text(row, column);
}

function oneOf<V extends string>(row: Row, column: string, values: readonly V[]): V {
  const value = row[column];
  const found = values.find((candidate) => candidate === value);
  if (found === undefined) throw new Error(`endpoint directory: unexpected value ${JSON.stringify(value ?? null)} in column ${column}`);
  return found;
}
