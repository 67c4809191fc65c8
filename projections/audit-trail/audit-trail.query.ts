import { InvalidQuery } from '../query-errors';
import { API_TOKEN_ISSUED, upcastOrAsRecorded } from '../../src/domain/events';
import type { JsonObject, JsonValue } from '../../src/event-store/event-store';
import type { Row, RowQuery, SqlValue, TableReader } from '../runner/projection';
import { AUDIT_TABLE, type AuditOutcome, ENTITY_KINDS, type EntityKind } from './audit-trail.projection';

/**
 * The query side of the audit trail: `GET /api/audit` (filtered, paged, newest first) and an
 * entity's history (oldest first). Inputs arrive as HTTP query strings; every bad one is refused
 * with INVALID_INPUT naming its parameter, never turned into an empty page.
 */

/** Why a refused command was refused, as the API answered it. */
export type AuditError = {
  code: string | null;
  message: string | null;
  /** HTTP status of the refusal: 401 and 403 are denied attempts, 400/404/409 refused commands. */
  status: number | null;
  details: JsonObject | null;
};

/** One entry of the audit trail, as the API returns it (plain JSON). */
export type AuditEntry = {
  /** Global log position: unique, increasing, the paging key. */
  position: number;
  deployment: string | null;
  streamId: string;
  revision: number;
  /** The event type: a topology event, `CommandRefused`, or a later stream's own. */
  type: string;
  outcome: AuditOutcome;
  command: string | null;
  commandId: string | null;
  correlationId: string | null;
  causationId: string | null;
  actor: string | null;
  roles: string[] | null;
  authenticated: boolean | null;
  reason: string | null;
  clientAddress: string | null;
  /** When the command was issued: the request's time, as its metadata records it. */
  occurredAt: string | null;
  /**
   * When the log recorded the event, a few milliseconds after `occurredAt`: the time `asOf` reads the
   * topology, the endpoints and the diff at. Pass it as `asOf` to see the topology with this change.
   */
  recordedAt: string | null;
  entity: { kind: string | null; id: string } | null;
  migrationId: string | null;
  /** Present on refusals only. */
  error?: AuditError;
  data: JsonObject;
  metadata: JsonObject;
};

export type AuditPage = {
  entries: AuditEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
};

/** Filters of `GET /api/audit`, as query strings give them; absent or empty means no filter. */
export interface AuditQuery {
  readonly deployment?: string | undefined;
  readonly actor?: string | undefined;
  /** `sip:alice@contoso.com`, `pcpool.contoso.com`, or `kind:id` such as `endpoint:sip:persistentchat@contoso.com`. */
  readonly entity?: string | undefined;
  readonly command?: string | undefined;
  readonly outcome?: string | undefined;
  /** ISO-8601 time with a zone, or a date (from its first millisecond); inclusive. */
  readonly from?: string | undefined;
  /** ISO-8601 time with a zone, or a date (to its last millisecond); inclusive. */
  readonly to?: string | undefined;
  readonly limit?: number | string | undefined;
  readonly cursor?: string | undefined;
}

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 500;
const MAX_FILTER_LENGTH = 1024;
const OUTCOMES: readonly AuditOutcome[] = ['accepted', 'refused'];

// ---------------------------------------------------------------------------------------------
// Validation

function invalid(field: string, message: string): InvalidQuery {
  return new InvalidQuery(`Invalid audit query: ${field} ${message}.`, field);
}

function optionalText(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const trimmed = value.trim();
  if (trimmed.length === 0) return undefined;
  if (trimmed.length > MAX_FILTER_LENGTH) throw invalid(field, `must be at most ${MAX_FILTER_LENGTH} characters long`);
  return trimmed;
}

function pageLimit(value: number | string | undefined): number {
  if (value === undefined || value === '') return AUDIT_PAGE_DEFAULT;
  const limit = typeof value === 'number' ? value : /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) {
    throw invalid('limit', `must be a whole number from 1 to ${AUDIT_PAGE_MAX} (got ${JSON.stringify(value)})`);
  }
  return limit;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/i;

/**
 * An ISO-8601 time as stored (`Date#toISOString`, compared as text). A time needs a zone: without
 * one it would mean the server's local time. A bare date covers the whole UTC day.
 */
export function auditTime(value: string | undefined, field: 'from' | 'to'): string | undefined {
  const given = optionalText(value, field);
  if (given === undefined) return undefined;
  const match = ISO_TIME.exec(given);
  const problem = `must be an ISO-8601 time with a zone, such as 2026-01-31T17:00:00Z, or a date such as 2026-01-31 (got ${JSON.stringify(given)})`;
  if (!match) throw invalid(field, problem);
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const y = Number(year);
  const m = Number(month);
  const d = Number(day);
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth) throw invalid(field, problem);
  if (hour === undefined) return `${year}-${month}-${day}T${field === 'from' ? '00:00:00.000' : '23:59:59.999'}Z`;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59) throw invalid(field, problem);
  const millis = (fraction ?? '').padEnd(3, '0').slice(0, 3);
  const parsed = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second ?? '00'}.${millis}${(zone ?? 'Z').toUpperCase()}`);
  const date = new Date(parsed);
  if (Number.isNaN(parsed) || date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) throw invalid(field, problem);
  return date.toISOString();
}

function auditOutcome(value: string | undefined): AuditOutcome | undefined {
  const given = optionalText(value, 'outcome');
  if (given === undefined) return undefined;
  const outcome = OUTCOMES.find((o) => o === given.toLowerCase());
  if (!outcome) throw invalid('outcome', `must be one of ${OUTCOMES.join(', ')} (got ${JSON.stringify(given)})`);
  return outcome;
}

/**
 * The kinds, case-insensitive, and the older forms still accepted as filters: `domain:` (as rollback
 * conflicts named SIP domains) is `sipDomain:`; `pool:` names a pool of either kind (see `anyPool`).
 */
const KNOWN_KINDS = new Map<string, EntityKind>([...ENTITY_KINDS.map((kind): [string, EntityKind] => [kind.toLowerCase(), kind]), ['domain', 'sipDomain']]);

/** `pool:` in a filter: a legacy or Persistent Chat pool, or a pool a refusal named without its kind. */
const anyPool = (kind: EntityKind | undefined): boolean => kind === 'pool';

/**
 * `kind:id` when the part before the first colon is an entity kind; otherwise the whole text is an
 * id (so `sip:...` stays an address). Ids are lower-cased as the audit trail stores them.
 */
export function parseEntityFilter(value: string, field = 'entity'): { kind: EntityKind | undefined; id: string } {
  const colon = value.indexOf(':');
  const kind = colon > 0 ? KNOWN_KINDS.get(value.slice(0, colon).toLowerCase()) : undefined;
  const id = (kind === undefined ? value : value.slice(colon + 1)).trim().toLowerCase();
  if (id.length === 0) throw invalid(field, `names no entity (got ${JSON.stringify(value)})`);
  return { kind, id };
}

function knownKind(value: string): EntityKind {
  const kind = KNOWN_KINDS.get(value.trim().toLowerCase());
  if (kind === undefined) throw invalid('kind', `must be one of ${ENTITY_KINDS.join(', ')} (got ${JSON.stringify(value)})`);
  return kind;
}

// The cursor is opaque to clients so that paging can change without breaking them; today it is the
// position of the last entry served, and the next page starts strictly below it.
const CURSOR_TEXT = /^[A-Za-z0-9_-]{1,32}$/;
const CURSOR_POSITION = /^p(0|[1-9]\d{0,15})$/;

export function encodeAuditCursor(position: number): string {
  return Buffer.from(`p${position}`, 'utf8').toString('base64url');
}

function decodeCursor(value: string | undefined): number | undefined {
  const given = optionalText(value, 'cursor');
  if (given === undefined) return undefined;
  const match = CURSOR_TEXT.test(given) ? CURSOR_POSITION.exec(Buffer.from(given, 'base64url').toString('utf8')) : null;
  const position = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(position)) throw invalid('cursor', 'is not a cursor this API returned (pass nextCursor unchanged)');
  return position;
}

// ---------------------------------------------------------------------------------------------
// Rows → entries

function textOf(row: Row, column: string): string | null {
  const value = row[column];
  return typeof value === 'string' ? value : null;
}

function numberOf(row: Row, column: string): number | null {
  const value = row[column];
  return typeof value === 'number' ? value : null;
}

function parseJson(text: string | null): JsonValue | undefined {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

function asObject(value: JsonValue | undefined): JsonObject | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
}

function asStrings(value: JsonValue | undefined): string[] | null {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : null;
}

/** An API token's salted hash stays in the log, out of the entries auditors page through. */
function withoutTokenHash(data: JsonObject): JsonObject {
  const { salt: _salt, hash: _hash, ...rest } = data;
  return rest;
}

/** An entry from a row of the audit trail, with its event's `data` and `metadata` texts (see `TableSpec.eventBody`). */
export function toAuditEntry(row: Row): AuditEntry {
  // The event as stored, read from the log, shown at its current version (as its row was written).
  const stored = {
    streamId: textOf(row, 'stream_id') ?? '',
    revision: numberOf(row, 'revision') ?? 0,
    type: textOf(row, 'event_type') ?? '',
    data: asObject(parseJson(textOf(row, 'data'))) ?? {},
    metadata: asObject(parseJson(textOf(row, 'metadata'))) ?? {},
  };
  const current = upcastOrAsRecorded(stored);
  const body = asObject(current.data as JsonValue) ?? {};
  const data = row['event_type'] === API_TOKEN_ISSUED ? withoutTokenHash(body) : body;
  const outcome: AuditOutcome = row['outcome'] === 'refused' ? 'refused' : 'accepted';
  const authenticated = numberOf(row, 'authenticated');
  const entityId = textOf(row, 'entity_id');
  const entry: AuditEntry = {
    position: numberOf(row, 'position') ?? 0,
    deployment: textOf(row, 'deployment'),
    streamId: textOf(row, 'stream_id') ?? '',
    revision: numberOf(row, 'revision') ?? 0,
    type: textOf(row, 'event_type') ?? '',
    outcome,
    command: textOf(row, 'command'),
    commandId: textOf(row, 'command_id'),
    correlationId: textOf(row, 'correlation_id'),
    causationId: textOf(row, 'causation_id'),
    actor: textOf(row, 'actor'),
    roles: asStrings(parseJson(textOf(row, 'roles'))),
    authenticated: authenticated === null ? null : authenticated !== 0,
    reason: textOf(row, 'reason'),
    clientAddress: textOf(row, 'client_address'),
    occurredAt: textOf(row, 'occurred_at'),
    recordedAt: textOf(row, 'recorded_at'),
    entity: entityId === null ? null : { kind: textOf(row, 'entity_kind'), id: entityId },
    migrationId: textOf(row, 'migration_id'),
    data,
    metadata: asObject(current.metadata as JsonValue) ?? {},
  };
  if (outcome === 'refused') {
    const error = asObject(data['error']);
    const message = error?.['message'];
    entry.error = {
      code: textOf(row, 'error_code'),
      message: typeof message === 'string' ? message : null,
      status: numberOf(row, 'status'),
      details: asObject(error?.['details']),
    };
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Queries

/**
 * One page of the audit trail, newest first. Keyset paging on the position: entries appended while
 * a client pages never shift the pages it has not read yet, and no entry is served twice.
 * With a deployment every filter walks an index; without one the walk is over the whole log.
 */
export function queryAudit(reader: TableReader, query: AuditQuery = {}): AuditPage {
  const limit = pageLimit(query.limit);
  const cursor = decodeCursor(query.cursor);
  const from = auditTime(query.from, 'from');
  const to = auditTime(query.to, 'to');
  if (from !== undefined && to !== undefined && from > to) throw invalid('to', `must not be before from (${from} > ${to})`);
  const deployment = optionalText(query.deployment, 'deployment')?.toLowerCase();
  const actor = optionalText(query.actor, 'actor');
  const command = optionalText(query.command, 'command');
  const outcome = auditOutcome(query.outcome);
  const entityText = optionalText(query.entity, 'entity');
  const entity = entityText === undefined ? undefined : parseEntityFilter(entityText);

  const where: Record<string, SqlValue> = {};
  if (deployment !== undefined) where['deployment'] = deployment;
  if (actor !== undefined) where['actor'] = actor;
  if (command !== undefined) where['command'] = command;
  if (outcome !== undefined) where['outcome'] = outcome;
  if (entity !== undefined) {
    where['entity_id'] = entity.id;
    if (entity.kind !== undefined && !anyPool(entity.kind)) where['entity_kind'] = entity.kind;
  }
  const rowQuery: RowQuery = {
    where,
    orderBy: ['position'],
    descending: true,
    // One more than the page: whether it comes back says if there is a next page.
    limit: limit + 1,
    ...(from !== undefined || to !== undefined
      ? { range: { occurred_at: { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) } } }
      : {}),
    ...(cursor !== undefined ? { after: { column: 'position', value: cursor } } : {}),
  };
  const rows = reader.rows(AUDIT_TABLE, rowQuery);
  const entries = rows.slice(0, limit).map(toAuditEntry);
  const last = entries[entries.length - 1];
  return { entries, nextCursor: rows.length > limit && last !== undefined ? encodeAuditCursor(last.position) : null };
}

/**
 * Everything the audit trail holds about one entity of a deployment, oldest first: its changes and
 * the commands refused about it. A Persistent Chat pool's history includes its servers' entries.
 * Without a kind, `entityId` may be `kind:id`, and a bare id matches entities of any kind
 * (a refused StartPool names a `pool`, its acceptance a `persistentChatPool` or `legacyPool`).
 */
export function entityHistory(reader: TableReader, deployment: string, entityKind: string | undefined, entityId: string): AuditEntry[] {
  const inDeployment = optionalText(deployment, 'deployment')?.toLowerCase();
  if (inDeployment === undefined) throw invalid('deployment', 'is required');
  const idText = optionalText(entityId, 'entity');
  if (idText === undefined) throw invalid('entity', 'is required');
  const kindText = optionalText(entityKind, 'kind');
  const entity = kindText === undefined ? parseEntityFilter(idText) : { kind: knownKind(kindText), id: idText.toLowerCase() };

  const where: Record<string, SqlValue> = { deployment: inDeployment, entity_id: entity.id };
  if (entity.kind !== undefined && !anyPool(entity.kind)) where['entity_kind'] = entity.kind;
  const rows = reader.rows(AUDIT_TABLE, { where, orderBy: ['position'] });

  const mayBePool = entity.kind === undefined || entity.kind === 'persistentChatPool' || entity.kind === 'pool';
  if (mayBePool && !entity.id.includes('/')) {
    // Server ids are `pool/server`: the pool's servers are the ids in ['pool/', 'pool/\uffff'], an index range.
    const servers = reader.rows(AUDIT_TABLE, {
      where: { deployment: inDeployment, entity_kind: 'server' },
      range: { entity_id: { from: `${entity.id}/`, to: `${entity.id}/\uffff` } },
      orderBy: ['position'],
    });
    if (servers.length > 0) {
      rows.push(...servers);
      rows.sort((a, b) => (numberOf(a, 'position') ?? 0) - (numberOf(b, 'position') ?? 0));
    }
  }
  return rows.map(toAuditEntry);
}
