import type { RecordedEvent } from '../../src/event-store/event-store';
import { MIGRATION_EVENT_TYPES, type MigrationEvent } from '../../src/domain';
import type { Change, Projection, ReadModelView, Row } from '../runner/projection';
import { toMigrationEvent } from '../../src/domain/events';

/**
 * Migrations and their steps (`GET /api/migrations`, `topo migrate status`): one row per migration
 * with its status, and one per step with its state, times, actors and the events it produced.
 * Built from the migrations' own streams (`migration-<id>`), whose events carry the topology events
 * each step appended.
 */

export const MIGRATIONS_TABLE = 'migrations';
export const MIGRATION_STEPS_TABLE = 'steps';

export type StepState = 'pending' | 'completed' | 'failed' | 'compensated' | 'notCompensated';

const MIGRATION_STREAM = /^migration-(.+)$/;
const EVENT_TYPES: ReadonlySet<string> = new Set(MIGRATION_EVENT_TYPES);

function who(event: RecordedEvent): { actor: string | null; at: string } {
  const actor = event.metadata['actor'];
  const occurredAt = event.metadata['occurredAt'];
  return { actor: typeof actor === 'string' ? actor : null, at: typeof occurredAt === 'string' ? occurredAt : event.created.toISOString() };
}

export const migrationsProjection: Projection = {
  name: 'migrations',
  version: 2,
  tables: [
    {
      name: MIGRATIONS_TABLE,
      key: ['migration_id'],
      columns: [
        'deployment',
        'legacy_pool_fqdn',
        'target_pool_fqdn',
        'well_known_sip_address',
        'status',
        'reason',
        'planned_at',
        'planned_by',
        'updated_at',
        'finished_at',
        'rollback_reason',
        'rollback_forced',
        'rollback_by',
        'rollback_conflicts',
        'continuity',
        'approval',
        'approved_by',
        'rollback_request',
        'plan',
        'position',
      ],
      temporal: false,
      indexes: [['deployment', 'planned_at']],
    },
    {
      name: MIGRATION_STEPS_TABLE,
      key: ['migration_id', 'step'],
      columns: [
        'step_key',
        'title',
        'state',
        'completed_at',
        'completed_by',
        'events',
        'continuity',
        'note',
        'failure',
        'compensated_at',
        'compensated_by',
        'compensation',
      ],
      temporal: false,
    },
  ],
  project(event: RecordedEvent, view: ReadModelView): readonly Change[] {
    const match = MIGRATION_STREAM.exec(event.streamId);
    if (!match || !EVENT_TYPES.has(event.type)) return [];
    const migrationId = match[1] ?? '';
    const migrationEvent = toMigrationEvent(event);
    const { actor, at } = who(event);
    const migration = view.get(MIGRATIONS_TABLE, { migration_id: migrationId });
    const update = (columns: Record<string, string | number | null>): Change[] =>
      migration ? [put(MIGRATIONS_TABLE, { ...migration, ...columns, updated_at: at, position: event.position })] : [];
    const step = (number: number): Row | undefined => view.get(MIGRATION_STEPS_TABLE, { migration_id: migrationId, step: number });
    const updateStep = (number: number, columns: Record<string, string | number | null>): Change[] => {
      const current = step(number);
      return current ? [put(MIGRATION_STEPS_TABLE, { ...current, ...columns })] : [];
    };
    switch (migrationEvent.type) {
      case 'MigrationPlanned': {
        const { plan, deployment, approvalRequired } = migrationEvent.data;
        const reason = event.metadata['reason'];
        return [
          put(MIGRATIONS_TABLE, {
            migration_id: migrationId,
            deployment,
            legacy_pool_fqdn: plan.legacyPoolFqdn,
            target_pool_fqdn: plan.targetPoolFqdn,
            well_known_sip_address: plan.wellKnownSipAddress,
            status: 'Planned',
            reason: plan.reason ?? (typeof reason === 'string' ? reason : null),
            planned_at: at,
            planned_by: actor,
            updated_at: at,
            finished_at: null,
            rollback_reason: null,
            rollback_forced: null,
            rollback_by: null,
            rollback_conflicts: null,
            continuity: null,
            approval: approvalRequired === true ? 'pending' : 'notRequired',
            approved_by: null,
            rollback_request: null,
            plan: JSON.stringify(plan),
            position: event.position,
          }),
          ...plan.steps.map((planned) =>
            put(MIGRATION_STEPS_TABLE, {
              migration_id: migrationId,
              step: planned.step,
              step_key: planned.key,
              title: planned.title,
              state: 'pending',
              completed_at: null,
              completed_by: null,
              events: null,
              continuity: null,
              note: null,
              failure: null,
              compensated_at: null,
              compensated_by: null,
              compensation: null,
            }),
          ),
        ];
      }
      case 'MigrationApproved':
      case 'MigrationRejected': {
        const decision = migrationEvent.type === 'MigrationApproved' ? 'approved' : 'rejected';
        if (migrationEvent.data.subject === 'plan') {
          return update({ approval: decision, approved_by: actor, ...(decision === 'rejected' ? { status: 'Rejected', finished_at: at } : {}) });
        }
        const request = migration?.['rollback_request'];
        const current = typeof request === 'string' ? (JSON.parse(request) as Record<string, unknown>) : {};
        return update({ rollback_request: JSON.stringify({ ...current, approval: decision, decidedBy: actor, decidedAt: at }) });
      }
      case 'MigrationRollbackRequested': {
        const { reason, force } = migrationEvent.data;
        return update({ rollback_request: JSON.stringify({ reason, force, requestedBy: actor, requestedAt: at, approval: 'pending' }) });
      }
      case 'MigrationStepCompleted': {
        const { step: number, events, continuity, note } = migrationEvent.data;
        return [
          ...update({ status: 'Running', continuity: JSON.stringify(continuity) }),
          ...updateStep(number, {
            state: 'completed',
            completed_at: at,
            completed_by: actor,
            events: JSON.stringify(events),
            continuity: JSON.stringify(continuity),
            note,
          }),
        ];
      }
      case 'MigrationStepFailed': {
        const { step: number, reason, error } = migrationEvent.data;
        return [
          ...update({ status: 'Failed' }),
          ...updateStep(number, { state: 'failed', completed_at: at, completed_by: actor, failure: JSON.stringify({ reason, error }) }),
        ];
      }
      case 'MigrationCompleted':
        return update({ status: 'Completed', finished_at: at, continuity: JSON.stringify(migrationEvent.data.continuity) });
      case 'MigrationRollbackStarted': {
        const { reason, force, conflicts } = migrationEvent.data;
        return update({
          status: 'RollingBack',
          rollback_reason: reason,
          rollback_forced: force ? 1 : 0,
          rollback_by: actor,
          rollback_conflicts: JSON.stringify(conflicts),
        });
      }
      case 'MigrationStepCompensated': {
        const { step: number, command, events } = migrationEvent.data;
        return updateStep(number, { state: 'compensated', compensated_at: at, compensated_by: actor, compensation: JSON.stringify({ command, events }) });
      }
      case 'MigrationStepNotCompensated': {
        const { step: number, command, error } = migrationEvent.data;
        return updateStep(number, { state: 'notCompensated', compensated_at: at, compensated_by: actor, compensation: JSON.stringify({ command, error }) });
      }
      case 'MigrationRolledBack':
        return update({ status: 'RolledBack', finished_at: at, continuity: JSON.stringify(migrationEvent.data.continuity) });
      default:
        migrationEvent satisfies never;
        return [];
    }
  },
};

function put(table: string, row: Row): Change {
  return { kind: 'put', table, row };
}
