import { type MigrationPlan, runbookOf } from '../../src/domain';
import type { JsonValue } from '../../src/event-store/event-store';
import type { Row, TableReader } from '../runner/projection';
import { MIGRATIONS_TABLE, MIGRATION_STEPS_TABLE, type StepState } from './migrations.projection';

export type MigrationSummary = {
  migrationId: string;
  deployment: string;
  legacyPoolFqdn: string;
  targetPoolFqdn: string;
  wellKnownSipAddress: string | null;
  status: string;
  reason: string | null;
  plannedAt: string;
  plannedBy: string | null;
  updatedAt: string;
  finishedAt: string | null;
  /** The first step not yet completed, while the migration can still run. */
  nextStep: number | null;
  position: number;
};

export type MigrationStepView = {
  step: number;
  key: string;
  title: string;
  state: StepState;
  completedAt: string | null;
  completedBy: string | null;
  /** The topology events the step appended, with their revisions and positions. */
  events: JsonValue;
  continuity: JsonValue;
  /** What the step moved and what it left behind (export, import). */
  note: string | null;
  failure: JsonValue;
  compensatedAt: string | null;
  compensatedBy: string | null;
  compensation: JsonValue;
};

export type MigrationDetail = MigrationSummary & {
  /** Four eyes: `notRequired`, `pending`, `approved` or `rejected`, and by whom. */
  approval: { state: string; by: string | null };
  /** A rollback asked for under four eyes: reason, force, who asked, and its approval. */
  rollbackRequest: JsonValue;
  rollback: { reason: string; forced: boolean; by: string | null; conflicts: JsonValue } | null;
  continuity: JsonValue;
  plan: MigrationPlan;
  steps: MigrationStepView[];
};

const str = (row: Row, column: string): string | null => {
  const value = row[column];
  return typeof value === 'string' ? value : null;
};
const json = (row: Row, column: string): JsonValue => {
  const value = str(row, column);
  return value === null ? null : (JSON.parse(value) as JsonValue);
};

function summary(row: Row, steps: readonly Row[]): MigrationSummary {
  const status = str(row, 'status') ?? 'Planned';
  const pending = steps.filter((s) => s['state'] === 'pending').map((s) => Number(s['step']));
  return {
    migrationId: str(row, 'migration_id') ?? '',
    deployment: str(row, 'deployment') ?? '',
    legacyPoolFqdn: str(row, 'legacy_pool_fqdn') ?? '',
    targetPoolFqdn: str(row, 'target_pool_fqdn') ?? '',
    wellKnownSipAddress: str(row, 'well_known_sip_address'),
    status,
    reason: str(row, 'reason'),
    plannedAt: str(row, 'planned_at') ?? '',
    plannedBy: str(row, 'planned_by'),
    updatedAt: str(row, 'updated_at') ?? '',
    finishedAt: str(row, 'finished_at'),
    nextStep: status === 'Planned' || status === 'Running' ? (pending.length > 0 ? Math.min(...pending) : null) : null,
    position: Number(row['position'] ?? 0),
  };
}

function stepsOf(reader: TableReader, migrationId: string): Row[] {
  return reader.rows(MIGRATION_STEPS_TABLE, { where: { migration_id: migrationId }, orderBy: ['step'] });
}

/** A deployment's migrations, most recently planned first; optionally only those with `status`. */
export function listMigrations(reader: TableReader, deployment: string, status?: string): MigrationSummary[] {
  const rows = reader.rows(MIGRATIONS_TABLE, { where: { deployment, ...(status ? { status } : {}) }, orderBy: ['planned_at'], descending: true });
  return rows.map((row) => summary(row, stepsOf(reader, str(row, 'migration_id') ?? '')));
}

/** One migration with its plan and every step; undefined when no migration has the id. */
export function migrationDetail(reader: TableReader, migrationId: string): MigrationDetail | undefined {
  const [row] = reader.rows(MIGRATIONS_TABLE, { where: { migration_id: migrationId.toLowerCase() } });
  if (!row) return undefined;
  const steps = stepsOf(reader, migrationId.toLowerCase());
  const rollbackReason = str(row, 'rollback_reason');
  return {
    ...summary(row, steps),
    rollback:
      rollbackReason === null
        ? null
        : { reason: rollbackReason, forced: row['rollback_forced'] === 1, by: str(row, 'rollback_by'), conflicts: json(row, 'rollback_conflicts') },
    continuity: json(row, 'continuity'),
    approval: { state: str(row, 'approval') ?? 'notRequired', by: str(row, 'approved_by') },
    rollbackRequest: json(row, 'rollback_request'),
    plan: JSON.parse(str(row, 'plan') ?? '{}') as MigrationPlan,
    steps: steps.map((s) => ({
      step: Number(s['step']),
      key: str(s, 'step_key') ?? '',
      title: str(s, 'title') ?? '',
      state: (str(s, 'state') ?? 'pending') as StepState,
      completedAt: str(s, 'completed_at'),
      completedBy: str(s, 'completed_by'),
      events: json(s, 'events'),
      continuity: json(s, 'continuity'),
      note: str(s, 'note'),
      failure: json(s, 'failure'),
      compensatedAt: str(s, 'compensated_at'),
      compensatedBy: str(s, 'compensated_by'),
      compensation: json(s, 'compensation'),
    })),
  };
}

/** The migration's PowerShell runbook (`.ps1`). */
export function migrationRunbook(detail: MigrationDetail): string {
  return runbookOf(detail.plan);
}
