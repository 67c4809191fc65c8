import { InvalidQuery } from '../query-errors';
import type { LogDigest } from '../../src/event-store/chain-hash';
import type { JsonObject, JsonValue } from '../../src/event-store/event-store';
import { logDigestAt } from '../audit-digest/audit-digest.query';
import { entityAt } from '../topology/topology.query';
import { AUDIT_TABLE } from '../audit-trail/audit-trail.projection';
import { type AuditEntry, auditTime, toAuditEntry } from '../audit-trail/audit-trail.query';
import type { Row, TableReader } from '../runner/projection';

/**
 * The compliance report of one deployment over a period, from the audit trail and the digest read
 * models (indexed reads over the period's entries, never a scan of the log): every accepted change
 * with who, roles, command, entity, before → after, reason and migration; refused commands; denied
 * attempts; migrations and their steps; a summary per actor and per entity; and the store-wide
 * digest at the period's last entry, which commits to every entry of the report.
 */

/** Event type of a denied attempt (an authorization refusal), in `access_denied-<deployment>` streams. */
export const ACCESS_DENIED = 'AccessDenied';
const MIGRATION_STREAM = 'migration-';
// Events after which their entity no longer exists: their "after" is nothing.
const ENDING_EVENT = /(Removed|Deleted|Decommissioned)$/;

export type ReportEntity = { kind: string | null; id: string } | null;

export type ReportChange = {
  position: number;
  occurredAt: string | null;
  actor: string | null;
  roles: string[] | null;
  authenticated: boolean | null;
  command: string | null;
  commandId: string | null;
  entity: ReportEntity;
  eventType: string;
  /** The entity as its previous change left it (null: it did not exist, or no earlier change is known). */
  before: JsonObject | null;
  /** The entity as this change leaves it (null: it no longer exists). */
  after: JsonObject | null;
  reason: string | null;
  migrationId: string | null;
  migrationStep: JsonValue;
  correlationId: string | null;
  clientAddress: string | null;
};

export type ReportRefusal = {
  position: number;
  occurredAt: string | null;
  actor: string | null;
  roles: string[] | null;
  authenticated: boolean | null;
  command: string | null;
  entity: ReportEntity;
  status: number | null;
  errorCode: string | null;
  message: string | null;
  reason: string | null;
  clientAddress: string | null;
  /** How many attempts the entry stands for: denials repeated within a window are recorded as one event. */
  attempts: number;
};

export type ReportMigrationEvent = {
  position: number;
  occurredAt: string | null;
  eventType: string;
  actor: string | null;
  roles: string[] | null;
  authenticated: boolean | null;
  clientAddress: string | null;
  command: string | null;
  step: JsonValue;
  reason: string | null;
  data: JsonObject;
};

export type ReportMigration = { migrationId: string; events: ReportMigrationEvent[] };

/**
 * Per actor and per entity: `changes` counts the entries of `changes` (the topology's), `migrationEvents`
 * the migrations' own records (planned, step completed, ...), listed under `migrations`.
 */
export type ActorSummary = { actor: string; changes: number; migrationEvents: number; refused: number; denied: number };
export type EntitySummary = { kind: string | null; id: string; changes: number; migrationEvents: number; refused: number; denied: number };

/**
 * What the report rests on, stated in every format: the reason policy in force, the key that signs
 * the log's checkpoints (null: none, the log is not protected against whoever can write DATA_DIR),
 * and the latest signed checkpoint (whether it covers the report's digest).
 */
export type ReportAssurance = {
  reasonPolicy: { always: string; configured: string[] };
  signingKey: string | null;
  auditLog: string;
  latestCheckpoint: { position: number; digest: string; time: string } | null;
  /** The latest checkpoint is at or past the report's digest: every entry of the report is signed. */
  coversReport: boolean;
};

export type ComplianceReport = {
  deployment: string;
  from: string;
  to: string;
  changes: ReportChange[];
  refused: ReportRefusal[];
  denied: ReportRefusal[];
  migrations: ReportMigration[];
  summary: { actors: ActorSummary[]; entities: EntitySummary[]; changes: number; refused: number; denied: number; migrationEvents: number };
  /** The store-wide digest at the period's last entry (null: the period has none). */
  digest: LogDigest | null;
  /** Added by the API (configuration and signer state, not read models). */
  assurance?: ReportAssurance;
};

export interface ComplianceQuery {
  readonly deployment: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** `from` and `to` as the audit trail stores times; both are required, and `from` ≤ `to`. */
export function reportPeriod(from: string | undefined, to: string | undefined): { from: string; to: string } {
  const start = auditTime(from, 'from');
  if (start === undefined) throw new InvalidQuery('Invalid compliance report query: from is required (an ISO-8601 time with a zone, or a date).', 'from');
  const end = auditTime(to, 'to');
  if (end === undefined) throw new InvalidQuery('Invalid compliance report query: to is required (an ISO-8601 time with a zone, or a date).', 'to');
  if (start > end) throw new InvalidQuery(`Invalid compliance report query: to must not be before from (${start} > ${end}).`, 'to');
  return { from: start, to: end };
}

function afterOf(entry: AuditEntry): JsonObject | null {
  return ENDING_EVENT.test(entry.type) ? null : entry.data;
}

const DRIFT_EVENT = /^Drift(Detected|Resolved)$/;

/** A drift item as its DriftDetected/DriftResolved events leave it. */
function driftItemAfter(state: JsonObject | null, entry: AuditEntry): JsonObject | null {
  const data = entry.data;
  if (entry.type === 'DriftDetected') {
    return { entity: data['entity'] ?? null, status: 'open', kind: data['kind'] ?? null, fields: data['fields'] ?? null, ledger: data['ledger'] ?? null, observed: data['observed'] ?? null };
  }
  return state === null ? null : { ...state, status: 'resolved', resolution: data['resolution'] ?? null };
}

/** The drift item `entry` changes as its earlier drift events of the same entity left it (one indexed read). */
function driftItemBefore(reader: TableReader, deployment: string, entry: AuditEntry): JsonObject | null {
  if (entry.entity === null) return null;
  const where: Record<string, string> = { deployment, entity_id: entry.entity.id, outcome: 'accepted' };
  if (entry.entity.kind !== null) where['entity_kind'] = entry.entity.kind;
  const item = entry.data['entity'];
  let state: JsonObject | null = null;
  for (const row of reader.rows(AUDIT_TABLE, { where, orderBy: ['position'], range: { position: { to: entry.position - 1 } } })) {
    if (!DRIFT_EVENT.test(String(row['event_type']))) continue;
    const earlier = toAuditEntry(row);
    if (earlier.data['entity'] === item) state = driftItemAfter(state, earlier);
  }
  return state;
}

const entityKey = (entity: ReportEntity): string => (entity === null ? '' : `${entity.kind ?? ''}\u0000${entity.id}`);

/** A message of an aggregated denial says how many times and when: every attempt stays visible in each rendering. */
function repeated(message: string | null, attempts: number, data: JsonObject): string | null {
  if (attempts === 1) return message;
  const [first, last] = [data['firstOccurredAt'], data['lastOccurredAt']];
  const when = typeof first === 'string' && typeof last === 'string' ? ` from ${first} to ${last}` : '';
  return `${message ?? 'denied'} (${attempts} attempts${when})`;
}

function refusalOf(entry: AuditEntry): ReportRefusal {
  const denied = entry.type === ACCESS_DENIED;
  // Entries are at their current version: the upcaster gave an AccessDenied recorded before repeats
  // were aggregated its one attempt. Only one this product cannot read (a later version) may lack it.
  const recorded = entry.data['attempts'];
  const attempts = denied && typeof recorded === 'number' ? recorded : 1;
  const message = denied ? entry.data['message'] : undefined;
  const code = denied ? entry.data['code'] : undefined;
  return {
    position: entry.position,
    occurredAt: entry.occurredAt,
    actor: entry.actor,
    roles: entry.roles,
    authenticated: entry.authenticated,
    command: entry.command ?? (typeof entry.data['command'] === 'string' ? entry.data['command'] : null),
    entity: entry.entity,
    status: entry.error?.status ?? (denied ? 403 : null),
    errorCode: entry.error?.code ?? (typeof code === 'string' ? code : null),
    message: repeated(entry.error?.message ?? (typeof message === 'string' ? message : null), attempts, entry.data),
    reason: entry.reason,
    clientAddress: entry.clientAddress,
    attempts,
  };
}

/**
 * The report; `digestReader` is the `audit_digest` projection's, `topologyReader` the `topology`
 * projection's: an entity's before → after is its state there before and after the change.
 */
export function complianceReport(auditReader: TableReader, digestReader: TableReader, topologyReader: TableReader, query: ComplianceQuery): ComplianceReport {
  const { from, to } = reportPeriod(query.from, query.to);
  const deployment = query.deployment;
  // The (deployment, occurred_at, position) index walks exactly the period.
  const rows = auditReader.rows(AUDIT_TABLE, {
    where: { deployment },
    range: { occurred_at: { from, to } },
    orderBy: ['occurred_at', 'position'],
  });
  const entries = rows.map(toAuditEntry);

  const changes: ReportChange[] = [];
  const refused: ReportRefusal[] = [];
  const denied: ReportRefusal[] = [];
  const migrations = new Map<string, ReportMigrationEvent[]>();
  const actors = new Map<string, ActorSummary>();
  const entities = new Map<string, EntitySummary>();
  // The state each entity was left in by its latest change seen so far in the period.
  const latest = new Map<string, JsonObject | null>();
  let migrationEvents = 0;
  let lastPosition = 0;

  const count = (entry: AuditEntry, what: 'changes' | 'migrationEvents' | 'refused' | 'denied', n = 1): void => {
    const actor = entry.actor ?? '(unknown)';
    const a = actors.get(actor) ?? { actor, changes: 0, migrationEvents: 0, refused: 0, denied: 0 };
    a[what] += n;
    actors.set(actor, a);
    if (entry.entity !== null) {
      const key = entityKey(entry.entity);
      const e = entities.get(key) ?? { kind: entry.entity.kind, id: entry.entity.id, changes: 0, migrationEvents: 0, refused: 0, denied: 0 };
      e[what] += n;
      entities.set(key, e);
    }
  };

  for (const entry of entries) {
    lastPosition = Math.max(lastPosition, entry.position);
    const step = entry.metadata['migrationStep'] ?? entry.data['step'] ?? null;
    if (entry.migrationId !== null || entry.streamId.startsWith(MIGRATION_STREAM)) {
      const id = entry.migrationId ?? entry.streamId.slice(MIGRATION_STREAM.length);
      const list = migrations.get(id) ?? [];
      list.push({
        position: entry.position,
        occurredAt: entry.occurredAt,
        eventType: entry.type,
        actor: entry.actor,
        roles: entry.roles,
        authenticated: entry.authenticated,
        clientAddress: entry.clientAddress,
        command: entry.command,
        step,
        reason: entry.reason,
        data: entry.data,
      });
      migrations.set(id, list);
      migrationEvents += 1;
      if (entry.streamId.startsWith(MIGRATION_STREAM)) {
        count(entry, 'migrationEvents');
        continue;
      }
    }
    if (entry.type === ACCESS_DENIED || (entry.outcome === 'refused' && (entry.error?.status === 401 || entry.error?.status === 403))) {
      const refusal = refusalOf(entry);
      denied.push(refusal);
      count(entry, 'denied', refusal.attempts);
      continue;
    }
    if (entry.outcome === 'refused') {
      refused.push(refusalOf(entry));
      count(entry, 'refused');
      continue;
    }
    // The entity's state, not the events' payloads: a topology entity as the topology read model has it
    // just before and just after this event; a drift item folded through its drift events.
    const drift = DRIFT_EVENT.test(entry.type);
    const key = `${drift ? 'drift\u0000' : ''}${entityKey(entry.entity)}\u0000${drift ? String(entry.data['entity']) : ''}`;
    const kept = entry.entity !== null && !drift ? entityAt(topologyReader, deployment, entry.entity.kind ?? '', entry.entity.id, entry.position) : undefined;
    let before: JsonObject | null;
    let after: JsonObject | null;
    if (kept !== undefined && entry.entity !== null) {
      before = entityAt(topologyReader, deployment, entry.entity.kind ?? '', entry.entity.id, entry.position - 1) ?? null;
      after = kept;
    } else if (drift) {
      before = latest.has(key) ? latest.get(key)! : driftItemBefore(auditReader, deployment, entry);
      after = driftItemAfter(before, entry);
    } else {
      before = entry.entity === null ? null : latest.has(key) ? latest.get(key)! : previousState(auditReader, deployment, entry);
      after = afterOf(entry);
    }
    if (entry.entity !== null) latest.set(key, after);
    changes.push({
      position: entry.position,
      occurredAt: entry.occurredAt,
      actor: entry.actor,
      roles: entry.roles,
      authenticated: entry.authenticated,
      command: entry.command,
      commandId: entry.commandId,
      entity: entry.entity,
      eventType: entry.type,
      before,
      after,
      reason: entry.reason,
      migrationId: entry.migrationId,
      migrationStep: step,
      correlationId: entry.correlationId,
      clientAddress: entry.clientAddress,
    });
    count(entry, 'changes');
  }

  const byName = <T extends { id?: string; actor?: string }>(a: T, b: T): number => ((a.actor ?? a.id ?? '') < (b.actor ?? b.id ?? '') ? -1 : 1);
  return {
    deployment,
    from,
    to,
    changes,
    refused,
    denied,
    migrations: [...migrations.entries()].map(([migrationId, events]) => ({ migrationId, events })),
    summary: {
      actors: [...actors.values()].sort(byName),
      entities: [...entities.values()].sort(byName),
      changes: changes.length,
      refused: refused.length,
      denied: denied.reduce((sum, d) => sum + d.attempts, 0),
      migrationEvents,
    },
    digest: lastPosition > 0 ? logDigestAt(digestReader, lastPosition) : null,
  };
}

/** The state an entity was left in by its last accepted change before this entry: one indexed read. */
function previousState(reader: TableReader, deployment: string, entry: AuditEntry): JsonObject | null {
  if (entry.entity === null) return null;
  const where: Record<string, string> = { deployment, entity_id: entry.entity.id, outcome: 'accepted' };
  if (entry.entity.kind !== null) where['entity_kind'] = entry.entity.kind;
  const [row]: Row[] = reader.rows(AUDIT_TABLE, { where, orderBy: ['position'], descending: true, after: { column: 'position', value: entry.position }, limit: 1 });
  return row === undefined ? null : afterOf(toAuditEntry(row));
}
