import type { Row, TableReader } from '../runner/projection';
import { CONFIRMATIONS_TABLE, DRIFT_TABLE, OBSERVATIONS_TABLE } from './drift.projection';

export interface DriftRow {
  readonly entity: string;
  readonly kind: string;
  readonly ledger: unknown;
  readonly observed: unknown;
  readonly fields: string[] | null;
  readonly status: 'open' | 'resolved';
  readonly detectedBy: string | null;
  readonly firstSeenAt: string | null;
  readonly firstSeenBy: string | null;
  readonly resolution: string | null;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
  readonly resolvedByObservation: string | null;
}

const parsed = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : null);
const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function toDrift(row: Row): DriftRow {
  return {
    entity: String(row['entity']),
    kind: String(row['kind']),
    ledger: parsed(row['ledger']),
    observed: parsed(row['observed']),
    fields: parsed(row['fields']) as string[] | null,
    status: row['status'] === 'open' ? 'open' : 'resolved',
    detectedBy: text(row['detected_by']),
    firstSeenAt: text(row['first_seen_at']),
    firstSeenBy: text(row['first_seen_by']),
    resolution: text(row['resolution']),
    resolvedAt: text(row['resolved_at']),
    resolvedBy: text(row['resolved_by']),
    resolvedByObservation: text(row['resolved_by_observation']),
  };
}

/** The drift of a deployment, by entity: open only, or every item ever found (`all`). */
export function listDrift(reader: TableReader, deployment: string, all = false): DriftRow[] {
  return reader.rows(DRIFT_TABLE, { where: { deployment, ...(all ? {} : { status: 'open' }) }, orderBy: ['entity'] }).map(toDrift);
}

/** The newest observation of a deployment (the one adoption takes drift from), or null before the first. */
export function latestObservation(reader: TableReader, deployment: string): { observationId: string; collectedAt: string | null; recordedAt: string | null; recordedBy: string | null; source: string | null } | null {
  const [row] = reader.rows(OBSERVATIONS_TABLE, { where: { deployment }, orderBy: ['position'], descending: true, limit: 1 });
  if (row === undefined) return null;
  return {
    observationId: String(row['observation_id']),
    collectedAt: text(row['collected_at']),
    recordedAt: text(row['recorded_at']),
    recordedBy: text(row['recorded_by']),
    source: text(row['source']),
  };
}

/**
 * The drift section of a compliance report: every drift item first seen in the period (ISO times,
 * inclusive), with who sent the observation that found it and whether and how it was resolved.
 * The read model keeps each entity's latest drift: an entity that drifted again after a resolution
 * shows its latest episode (the events in `observation-<deployment>` keep every one).
 */
export function driftFirstSeenBetween(reader: TableReader, deployment: string, from: string, to: string): DriftRow[] {
  return reader.rows(DRIFT_TABLE, { where: { deployment }, range: { first_seen_at: { from, to } }, orderBy: ['first_seen_position'] }).map(toDrift);
}

export interface StepConfirmation {
  readonly step: number;
  /** What the step did that an observation can see, as a drift entity. */
  readonly entity: string;
  /** `on <pool fqdn>` for an endpoint it created, `absent` for a principal it deleted. */
  readonly expected: string;
  /**
   * `awaiting`: no observation covering it since; `confirmed`: the newest one covering it saw it;
   * `contradicted`: it saw otherwise (open drift); `superseded`: the ledger changed the entity since;
   * `compensated`: a rollback undid the step.
   */
  readonly state: 'awaiting' | 'confirmed' | 'contradicted' | 'superseded' | 'compensated';
  readonly observationId: string | null;
  readonly observedAt: string | null;
}

/** For each step of a migration, whether observations after it saw its effects. */
export function stepConfirmations(reader: TableReader, migrationId: string): StepConfirmation[] {
  return reader.rows(CONFIRMATIONS_TABLE, { where: { migration_id: migrationId }, orderBy: ['step', 'entity'] }).map((row) => ({
    step: Number(row['step']),
    entity: String(row['entity']),
    expected: String(row['expected']),
    state: String(row['state']) as StepConfirmation['state'],
    observationId: text(row['observation_id']),
    observedAt: text(row['observed_at']),
  }));
}

/** Per deployment: its open drift items and the observations it recorded (what `/metrics` reports). */
export function driftCounts(reader: TableReader): Map<string, { open: number; observations: number }> {
  const counts = new Map<string, { open: number; observations: number }>();
  const of = (deployment: unknown): { open: number; observations: number } => {
    const key = String(deployment);
    let count = counts.get(key);
    if (count === undefined) counts.set(key, (count = { open: 0, observations: 0 }));
    return count;
  };
  for (const row of reader.rows(DRIFT_TABLE, { where: { status: 'open' } })) of(row['deployment']).open += 1;
  for (const row of reader.rows(OBSERVATIONS_TABLE)) of(row['deployment']).observations += 1;
  return counts;
}
