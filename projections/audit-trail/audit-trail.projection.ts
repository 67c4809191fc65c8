import type { JsonObject, JsonValue, RecordedEvent } from '../../src/event-store/event-store';
import type { TopologyCommandType, TopologyEventType } from '../../src/domain';
import { ACCESS_DENIED } from '../../src/domain/events/streams';
import type { Change, Projection, Row } from '../runner/projection';
import { upcastOrAsRecorded } from '../../src/domain/events';
import { parseEntityKey } from '../../src/domain/observation/drift';

/**
 * The audit trail (R21): one row per event of every stream, accepted changes and refused commands
 * alike, with who, when, what, why and from where. Append-only, keyed by the global position, which
 * is also the paging key. Compliance reports (actor, roles, command, entity, before → after,
 * reason, migration id) read the same rows, so those are columns rather than buried in JSON.
 */

export const AUDIT_TABLE = 'entries';
/** The event type under which refused commands are recorded. */
export const COMMAND_REFUSED = 'CommandRefused';
export { ACCESS_DENIED };

export type AuditOutcome = 'accepted' | 'refused';

/**
 * What an entry is about. `kind` is null when it cannot be told (a refused command nobody knows);
 * the id alone still finds it. Ids are lower-cased, as the domain stores SIP addresses and FQDNs (R2).
 */
export type AuditEntity = {
  readonly kind: string | null;
  readonly id: string;
};

/** The entity kinds of the topology; `pool` is a pool of either kind, named by a refused StartPool/StopPool. */
export const ENTITY_KINDS = [
  'sipDomain',
  'principal',
  'legacyPool',
  'persistentChatPool',
  'pool',
  'server',
  'endpoint',
  'migration',
] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

/** The id of a Persistent Chat server: its pool and its own FQDN, as `pool/server`. */
export const serverEntityId = (poolFqdn: string, serverFqdn: string): string => `${poolFqdn}/${serverFqdn}`;

export const AUDIT_COLUMNS = [
  'deployment',
  'stream_id',
  'revision',
  'event_type',
  'outcome',
  /** HTTP status of a refusal (401/403 are denied attempts); null for accepted events. */
  'status',
  'command',
  'command_id',
  'correlation_id',
  'causation_id',
  'actor',
  'roles',
  'authenticated',
  'reason',
  'client_address',
  'occurred_at',
  'recorded_at',
  'entity_kind',
  'entity_id',
  'error_code',
  'migration_id',
] as const;
export type AuditColumn = (typeof AUDIT_COLUMNS)[number];

/**
 * Every index leads with the deployment: the API always names one (default `default`), and an index
 * led by actor or entity alone would leave SQLite to choose between it and the deployment index,
 * scanning a whole deployment when it guesses wrong. Each ends with `position` so that
 * "newest first, after this cursor" is an ordered index walk that stops at the page size.
 */
const AUDIT_INDEXES: readonly (readonly ('position' | AuditColumn)[])[] = [
  ['deployment', 'position'],
  ['deployment', 'actor', 'position'],
  ['deployment', 'entity_id', 'position'],
  ['deployment', 'command', 'position'],
  ['deployment', 'occurred_at', 'position'],
];

// ---------------------------------------------------------------------------------------------
// Entities

type EntityRule =
  /** The entity is `data[field]`. */
  | { readonly kind: EntityKind; readonly field: string }
  /** A server: `data.poolFqdn` / `data.serverFqdn`. */
  | { readonly kind: 'server' }
  /** A started or stopped pool: its kind is in `data.poolKind`. */
  | { readonly kind: 'poolByKind' };

const field = (kind: EntityKind, name: string): EntityRule => ({ kind, field: name });

// Object keys rather than a switch: an event type added to the domain fails to compile here until listed.
const EVENT_ENTITIES: Readonly<Record<TopologyEventType, EntityRule>> = {
  SipDomainRegistered: field('sipDomain', 'domain'),
  DefaultSipDomainChanged: field('sipDomain', 'domain'),
  SipDomainRemoved: field('sipDomain', 'domain'),
  SipPrincipalRegistered: field('principal', 'sipAddress'),
  SipPrincipalDeleted: field('principal', 'sipAddress'),
  LegacyGroupChatPoolDefined: field('legacyPool', 'fqdn'),
  LegacyGroupChatPoolDecommissioned: field('legacyPool', 'fqdn'),
  PersistentChatPoolInstalled: field('persistentChatPool', 'fqdn'),
  PersistentChatPoolRemoved: field('persistentChatPool', 'fqdn'),
  PersistentChatServerAdded: { kind: 'server' },
  PersistentChatServerRemoved: { kind: 'server' },
  PersistentChatActiveServersChanged: field('persistentChatPool', 'poolFqdn'),
  PersistentChatStateChanged: field('persistentChatPool', 'poolFqdn'),
  PoolStarted: { kind: 'poolByKind' },
  PoolStopped: { kind: 'poolByKind' },
  PersistentChatEndpointCreated: field('endpoint', 'sipAddress'),
  PersistentChatEndpointRemoved: field('endpoint', 'sipAddress'),
  LegacyPoolDataImported: field('legacyPool', 'legacyPoolFqdn'),
  LegacyPoolDataImportReverted: field('legacyPool', 'legacyPoolFqdn'),
  PoolStartReverted: field('persistentChatPool', 'fqdn'),
};

/** Commands beyond the topology's own, whose refusals still name an entity. */
type OtherCommand = 'MigratePool' | 'RunMigration' | 'FailMigrationStep' | 'RollbackMigration';

/** Where a refused command's input names its entity (field names as in the HTTP bodies). */
const COMMAND_ENTITIES: Readonly<Record<TopologyCommandType | OtherCommand, EntityRule>> = {
  RegisterSipDomain: field('sipDomain', 'domain'),
  SetDefaultSipDomain: field('sipDomain', 'domain'),
  RemoveSipDomain: field('sipDomain', 'domain'),
  RegisterSipPrincipal: field('principal', 'sipAddress'),
  DeleteSipPrincipal: field('principal', 'sipAddress'),
  DefineLegacyGroupChatPool: field('legacyPool', 'fqdn'),
  DecommissionLegacyPool: field('legacyPool', 'fqdn'),
  InstallPersistentChatPool: field('persistentChatPool', 'fqdn'),
  RemovePersistentChatPool: field('persistentChatPool', 'fqdn'),
  AddPersistentChatServer: { kind: 'server' },
  RemovePersistentChatServer: { kind: 'server' },
  SetPersistentChatActiveServers: field('persistentChatPool', 'poolFqdn'),
  SetPersistentChatState: field('persistentChatPool', 'poolFqdn'),
  // The input does not say which kind of pool; the id still finds it (see `AuditEntity`).
  StartPool: field('pool', 'fqdn'),
  StopPool: field('pool', 'fqdn'),
  CreateEndpoint: field('endpoint', 'sipAddress'),
  // -Identity may also be a display name or a distinguished name: recorded as given.
  RemoveEndpoint: field('endpoint', 'identity'),
  MigratePool: field('legacyPool', 'legacyPoolFqdn'),
  ImportLegacyPoolData: field('legacyPool', 'legacyPoolFqdn'),
  RevertLegacyPoolDataImport: field('legacyPool', 'legacyPoolFqdn'),
  DeleteWellKnownUser: field('principal', 'sipAddress'),
  RestoreWellKnownUser: field('principal', 'sipAddress'),
  RevertPoolStart: field('persistentChatPool', 'fqdn'),
  RunMigration: field('migration', 'migrationId'),
  FailMigrationStep: field('migration', 'migrationId'),
  RollbackMigration: field('migration', 'migrationId'),
};

/** For inputs and events nobody listed above: the first of these fields that holds a string. */
const FALLBACK_FIELDS: readonly (readonly [string, EntityKind | null])[] = [
  ['migrationId', 'migration'],
  ['sipAddress', null],
  ['identity', null],
  ['fqdn', null],
  ['poolFqdn', null],
  ['domain', null],
];

// Refusal input is whatever the caller sent; an id longer than any real one is not worth indexing.
const MAX_ENTITY_ID = 1024;

function hasOwn<T extends object>(table: T, key: string): key is Extract<keyof T, string> {
  return Object.prototype.hasOwnProperty.call(table, key);
}

function text(value: JsonValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Caller input, unlike domain events, is neither trimmed nor lower-cased. */
function normalizedId(value: JsonValue | undefined): string | null {
  if (typeof value !== 'string') return null;
  const id = value.trim().toLowerCase();
  return id.length === 0 || id.length > MAX_ENTITY_ID ? null : id;
}

function applyRule(rule: EntityRule, data: JsonObject, normalize: boolean): AuditEntity | null {
  const read = normalize ? normalizedId : text;
  switch (rule.kind) {
    case 'server': {
      const pool = read(data['poolFqdn']);
      const server = read(data['serverFqdn']);
      return pool !== null && server !== null ? { kind: 'server', id: serverEntityId(pool, server) } : null;
    }
    case 'poolByKind': {
      const id = read(data['fqdn']);
      if (id === null) return null;
      const poolKind = data['poolKind'];
      return { kind: poolKind === 'legacyGroupChat' ? 'legacyPool' : poolKind === 'persistentChat' ? 'persistentChatPool' : 'pool', id };
    }
    default: {
      const id = read(data[rule.field]);
      return id === null ? null : { kind: rule.kind, id };
    }
  }
}

/**
 * The entity a refusal's error names (`details.entity`, `endpoint:sip:bob@contoso.com`), for a command
 * whose input names none: an adoption of observed state names the drift it was refused for.
 */
function refusedEntity(error: JsonValue | undefined): AuditEntity | null {
  const details = isJsonObject(error) ? error['details'] : undefined;
  const key = isJsonObject(details) ? text(details['entity']) : null;
  const parsed = key !== null && key.length <= MAX_ENTITY_ID ? parseEntityKey(key) : undefined;
  return parsed ? { kind: parsed.kind, id: parsed.id } : null;
}

/** The first entity key a refused command's input lists (`entities: ["endpoint:sip:x@contoso.com"]`, as AdoptObservedState takes). */
function listedEntity(input: JsonObject): AuditEntity | null {
  const listed = input['entities'];
  const first = Array.isArray(listed) ? listed.find((key): key is string => typeof key === 'string') : undefined;
  const parsed = first !== undefined && first.length <= MAX_ENTITY_ID ? parseEntityKey(first.trim()) : undefined;
  return parsed ? { kind: parsed.kind, id: parsed.id.toLowerCase() } : null;
}

/** The drift item a DriftDetected/DriftResolved is about (`data.entity`, `endpoint:sip:x@contoso.com`). */
const DRIFT_EVENTS = new Set(['DriftDetected', 'DriftResolved']);

function fallbackEntity(data: JsonObject): AuditEntity | null {
  for (const [name, kind] of FALLBACK_FIELDS) {
    const id = normalizedId(data[name]);
    if (id !== null) return { kind, id };
  }
  return null;
}

/**
 * What an event is about: the topology entity it changes, or for a refused command the entity its
 * input names. Null when nothing in it names one. Pure, cheap, and never throws on foreign data.
 */
export function entityOf(eventType: string, data: JsonObject): AuditEntity | null {
  if (hasOwn(EVENT_ENTITIES, eventType)) {
    // Domain events hold SIP addresses and FQDNs already lower-cased (R2): no copy needed.
    return applyRule(EVENT_ENTITIES[eventType], data, false);
  }
  if (DRIFT_EVENTS.has(eventType)) {
    const key = text(data['entity']);
    const parsed = key !== null && key.length <= MAX_ENTITY_ID ? parseEntityKey(key) : undefined;
    if (parsed) return { kind: parsed.kind, id: parsed.id };
  }
  if (eventType === COMMAND_REFUSED) {
    const input = data['input'];
    if (!isJsonObject(input)) return null;
    const command = data['command'];
    // The entity the refusal's error names comes first: the input may name it indirectly (an endpoint by its DN).
    if (typeof command === 'string' && hasOwn(COMMAND_ENTITIES, command)) return refusedEntity(data['error']) ?? applyRule(COMMAND_ENTITIES[command], input, true);
    return fallbackEntity(input) ?? refusedEntity(data['error']) ?? listedEntity(input);
  }
  return fallbackEntity(data);
}

// The streams whose id ends with the deployment; other streams (`migration-<id>`) name their entity.
const DEPLOYMENT_STREAM = /^(?:topology|refused_command|access_denied)-(.+)$/;
const OTHER_STREAM = /^([a-z][a-zA-Z0-9]*)-(.+)$/;

/** An entity from a stream id such as `migration-<id>`, for events whose data names none. */
function entityOfStream(streamId: string): AuditEntity | null {
  if (DEPLOYMENT_STREAM.test(streamId)) return null;
  const match = OTHER_STREAM.exec(streamId);
  return match ? { kind: match[1] ?? null, id: (match[2] ?? '').toLowerCase() } : null;
}

// ---------------------------------------------------------------------------------------------
// Times

// `Date#toISOString`, as every writer of this product produces it: compared as text, so all stored
// times must share this exact form.
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A time in the canonical ISO-8601 form, or null when it is not a time. */
export function canonicalTime(value: JsonValue | undefined): string | null {
  if (typeof value !== 'string') return null;
  if (CANONICAL_TIME.test(value)) return value;
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) return null;
  const date = new Date(millis);
  const year = date.getUTCFullYear();
  // Outside these years toISOString has a sign and six digits, which would not sort as text.
  return year >= 0 && year <= 9999 ? date.toISOString() : null;
}

function createdTime(created: Date | undefined): string | null {
  if (!(created instanceof Date)) return null;
  const year = created.getUTCFullYear();
  // NaN for an invalid date fails both comparisons too.
  return year >= 0 && year <= 9999 ? created.toISOString() : null;
}

// ---------------------------------------------------------------------------------------------
// The projection

const EMPTY: JsonObject = {};

// A store has a handful of role sets, repeated on every event: encode each once.
const rolesJson = new Map<string, string>();
const MAX_ROLE_SETS = 1024;

function rolesText(roles: JsonValue[]): string {
  let key = '';
  for (const role of roles) {
    // Anything but plain strings (or a separator inside one) is rare: encode it without caching.
    if (typeof role !== 'string' || role.includes('\u0000')) return JSON.stringify(roles);
    key += `${role}\u0000`;
  }
  let text = rolesJson.get(key);
  if (text === undefined) {
    text = JSON.stringify(roles);
    if (rolesJson.size < MAX_ROLE_SETS) rolesJson.set(key, text);
  }
  return text;
}

function deploymentOf(event: RecordedEvent, metadata: JsonObject): string | null {
  const named = text(metadata['deployment']) ?? (event.type === COMMAND_REFUSED || event.type === ACCESS_DENIED ? text(event.data['deployment']) : null);
  if (named !== null) return named;
  const match = DEPLOYMENT_STREAM.exec(event.streamId);
  return match ? (match[1] ?? null) : null;
}

/**
 * The row of one event, at its current version (upcast). Runs for every event of a rebuild: a few
 * property reads. The event's data and metadata are not in it: reads take them from the log by
 * position (`eventBody`), and upcast them the same way.
 */
export function auditRow(recorded: RecordedEvent): Row {
  const event = upcastOrAsRecorded(recorded);
  const metadata = isJsonObject(event.metadata) ? event.metadata : EMPTY;
  const data = isJsonObject(event.data) ? event.data : EMPTY;
  // A denied attempt is a refusal too: its data has the status and error a refused command has.
  const refused = event.type === COMMAND_REFUSED || event.type === ACCESS_DENIED;
  const entity = event.type === ACCESS_DENIED ? null : (entityOf(event.type, data) ?? entityOfStream(event.streamId));
  const roles = metadata['roles'];
  const authenticated = metadata['authenticated'];
  const error = refused ? data['error'] : undefined;
  const status = refused ? data['status'] : undefined;
  const row: Record<'position' | AuditColumn, string | number | null> = {
    position: event.position,
    deployment: deploymentOf(event, metadata),
    stream_id: event.streamId,
    revision: event.revision,
    event_type: event.type,
    outcome: refused ? 'refused' : 'accepted',
    status: typeof status === 'number' ? status : null,
    command: text(metadata['command']) ?? (refused ? text(data['command']) : null),
    command_id: text(metadata['commandId']),
    correlation_id: text(metadata['correlationId']),
    causation_id: text(metadata['causationId']),
    actor: text(metadata['actor']),
    roles: Array.isArray(roles) ? rolesText(roles) : null,
    authenticated: typeof authenticated === 'boolean' ? (authenticated ? 1 : 0) : null,
    // The caller's reason or ticket; else the reason the domain recorded on a removal (a denial's is in its error).
    reason: text(metadata['reason']) ?? (event.type === ACCESS_DENIED ? null : text(data['reason'])),
    client_address: text(metadata['clientAddress']),
    occurred_at: canonicalTime(metadata['occurredAt']) ?? createdTime(event.created),
    // The log's own time: what `asOf` reads the topology at (a command occurs, then its events are recorded).
    recorded_at: createdTime(event.created),
    entity_kind: entity?.kind ?? null,
    entity_id: entity?.id ?? null,
    error_code: isJsonObject(error) ? text(error['code']) : null,
    migration_id: text(metadata['migrationId']) ?? text(data['migrationId']),
  };
  return row;
}

export const auditTrailProjection: Projection = {
  name: 'audit_trail',
  // 2: recorded_at. 3: the events' data and metadata read from the log, no longer copied. 4: a refused
  // adoption names the entity its error names. 5: a drift event names its drift item's entity; a refused
  // adoption without one in its error the first of its input's `entities`; any refusal whose error names
  // an entity is filed under it (RemoveEndpoint by distinguished or display name: the endpoint's SIP address).
  version: 5,
  tables: [{ name: AUDIT_TABLE, key: ['position'], columns: AUDIT_COLUMNS, temporal: false, integerKey: true, indexes: AUDIT_INDEXES, eventBody: true }],
  project(event: RecordedEvent): readonly Change[] {
    return [{ kind: 'put', table: AUDIT_TABLE, row: auditRow(event) }];
  },
};
