import type { RecordedEvent } from '../../src/event-store/event-store';
import type { Change, Projection, ReadModelView } from '../runner/projection';
import { upcast } from '../../src/domain/events';

/**
 * Drift between the ledger and the observed deployment (`GET /api/drift`, `topo drift`): one row per
 * deployment and entity with the latest drift found for it, when and by whom it was first seen, and
 * how it was resolved. Built from the observation streams (`observation-<deployment>`).
 */
export const DRIFT_TABLE = 'items';
/** Every observation: who sent it, when it was collected, its digest and counts. */
export const OBSERVATIONS_TABLE = 'observations';

/** Per migration step whose effect an observation can see: whether the newest observation covering it saw it. */
export const CONFIRMATIONS_TABLE = 'confirmations';
/** Which deployment each migration belongs to (its step events do not say). */
export const MIGRATION_DEPLOYMENTS_TABLE = 'migrations';

const OBSERVATION_STREAM = /^observation-(.+)$/;
const MIGRATION_STREAM = /^migration-(.+)$/;
const TOPOLOGY_STREAM = /^topology-(.+)$/;

/**
 * The effects of a step an observation can see, from the topology events the step appended: an
 * endpoint created (the observed one must be on that pool), a principal deleted (none may be seen).
 * Pool status changes are not observed by the collector, so they are not listed.
 */
function observableEffects(events: unknown): { entity: string; expected: string }[] {
  if (!Array.isArray(events)) return [];
  const effects: { entity: string; expected: string }[] = [];
  for (const event of events as { type?: unknown; data?: Record<string, unknown> }[]) {
    const data = event.data ?? {};
    if (event.type === 'PersistentChatEndpointCreated' && typeof data['sipAddress'] === 'string') {
      effects.push({ entity: `endpoint:${data['sipAddress']}`, expected: `on ${String(data['poolFqdn'])}` });
    }
    if (event.type === 'SipPrincipalDeleted' && typeof data['sipAddress'] === 'string') {
      effects.push({ entity: `principal:${data['sipAddress']}`, expected: 'absent' });
    }
  }
  return effects;
}

/** The entity a topology event changes, for the effects it may supersede. */
function topologyEntity(type: string, data: Record<string, unknown>): string | null {
  const sip = data['sipAddress'];
  if (typeof sip !== 'string') return null;
  if (type.startsWith('PersistentChatEndpoint')) return `endpoint:${sip}`;
  if (type.startsWith('SipPrincipal')) return `principal:${sip}`;
  return null;
}

function coveredBy(coverage: unknown, entity: string): boolean {
  if (typeof coverage !== 'object' || coverage === null) return false;
  const { kinds, principalScope } = coverage as { kinds?: unknown; principalScope?: unknown };
  const kind = entity.slice(0, entity.indexOf(':'));
  if (!Array.isArray(kinds) || !kinds.includes(kind)) return false;
  if (kind === 'principal' && Array.isArray(principalScope)) return principalScope.includes(entity.slice(entity.indexOf(':') + 1));
  return true;
}

function who(event: RecordedEvent): { actor: string | null; at: string } {
  const actor = event.metadata['actor'];
  const occurredAt = event.metadata['occurredAt'];
  return { actor: typeof actor === 'string' ? actor : null, at: typeof occurredAt === 'string' ? occurredAt : event.created.toISOString() };
}

const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export const driftProjection: Projection = {
  name: 'drift',
  version: 2,
  tables: [
    {
      name: DRIFT_TABLE,
      key: ['deployment', 'entity'],
      columns: [
        'kind',
        'ledger',
        'observed',
        'fields',
        'status',
        'detected_by',
        'first_seen_at',
        'first_seen_by',
        'first_seen_position',
        'resolution',
        'resolved_by_observation',
        'resolved_at',
        'resolved_by',
      ],
      temporal: false,
      indexes: [['deployment', 'status']],
    },
    {
      name: OBSERVATIONS_TABLE,
      key: ['observation_id'],
      columns: ['deployment', 'source', 'collected_at', 'recorded_at', 'recorded_by', 'sha256', 'counts', 'drift_count', 'position'],
      temporal: false,
      indexes: [['deployment', 'position']],
    },
    { name: MIGRATION_DEPLOYMENTS_TABLE, key: ['migration_id'], columns: ['deployment'], temporal: false },
    {
      name: CONFIRMATIONS_TABLE,
      key: ['migration_id', 'step', 'entity'],
      columns: ['deployment', 'expected', 'completed_position', 'state', 'observation_id', 'observed_at'],
      temporal: false,
      indexes: [['deployment', 'entity']],
    },
  ],
  project(recorded: RecordedEvent, view: ReadModelView): readonly Change[] {
    const event = upcast(recorded);
    const migration = MIGRATION_STREAM.exec(event.streamId);
    if (migration) return projectMigration(migration[1]!, event, view);
    const topology = TOPOLOGY_STREAM.exec(event.streamId);
    if (topology) {
      // A later change of the ledger to an entity a step touched: what the step did is no longer what to look for.
      const entity = topologyEntity(event.type, event.data);
      if (entity === null) return [];
      return view
        .find(CONFIRMATIONS_TABLE, { deployment: topology[1]!, entity })
        .filter((row) => typeof row['completed_position'] === 'number' && row['completed_position'] < event.position && row['state'] !== 'superseded')
        .map((row) => ({ kind: 'put', table: CONFIRMATIONS_TABLE, row: { ...row, state: 'superseded' } }) as const);
    }
    const match = OBSERVATION_STREAM.exec(event.streamId);
    if (!match) return [];
    const deployment = match[1]!;
    const { actor, at } = who(event);
    const data = event.data;
    switch (event.type) {
      case 'ObservationRecorded': {
        // Each step effect the observation covers: seen unless its entity is in open drift (a DriftDetected
        // or a DriftResolved of this same observation, just after, corrects that).
        const coverage = data['coverage'];
        const confirmations: Change[] = [];
        for (const row of view.find(CONFIRMATIONS_TABLE, { deployment })) {
          const entity = String(row['entity']);
          if (row['state'] === 'superseded' || row['state'] === 'compensated' || !coveredBy(coverage, entity)) continue;
          const open = view.get(DRIFT_TABLE, { deployment, entity })?.['status'] === 'open';
          confirmations.push({ kind: 'put', table: CONFIRMATIONS_TABLE, row: { ...row, state: open ? 'contradicted' : 'confirmed', observation_id: String(data['observationId']), observed_at: str(data['collectedAt']) ?? at } });
        }
        return [
          ...confirmations,
          {
            kind: 'put',
            table: OBSERVATIONS_TABLE,
            row: {
              observation_id: String(data['observationId']),
              deployment,
              source: str(data['source']),
              collected_at: str(data['collectedAt']),
              recorded_at: at,
              recorded_by: actor,
              sha256: str(data['sha256']),
              counts: json(data['counts']),
              drift_count: typeof data['driftCount'] === 'number' ? data['driftCount'] : null,
              position: event.position,
            },
          },
        ];
      }
      case 'DriftDetected': {
        const entity = String(data['entity']);
        const previous = view.get(DRIFT_TABLE, { deployment, entity });
        // Still open and seen again with other values: it keeps the time it was first seen.
        const stillOpen = previous !== undefined && previous['status'] === 'open';
        return [
          ...sameObservation(view, deployment, entity, data['observationId'], 'contradicted'),
          {
            kind: 'put',
            table: DRIFT_TABLE,
            row: {
              deployment,
              entity,
              kind: str(data['kind']),
              ledger: json(data['ledger']),
              observed: json(data['observed']),
              fields: json(data['fields']),
              status: 'open',
              detected_by: str(data['observationId']),
              first_seen_at: stillOpen ? (previous['first_seen_at'] ?? at) : at,
              first_seen_by: stillOpen ? (previous['first_seen_by'] ?? actor) : actor,
              first_seen_position: stillOpen ? (previous['first_seen_position'] ?? event.position) : event.position,
              resolution: null,
              resolved_by_observation: null,
              resolved_at: null,
              resolved_by: null,
            },
          },
        ];
      }
      case 'DriftResolved': {
        const entity = String(data['entity']);
        const previous = view.get(DRIFT_TABLE, { deployment, entity });
        if (!previous) return [];
        return [
          ...(data['resolution'] === 'gone' ? sameObservation(view, deployment, entity, data['observationId'], 'confirmed') : []),
          {
            kind: 'put',
            table: DRIFT_TABLE,
            row: { ...previous, status: 'resolved', resolution: str(data['resolution']), resolved_by_observation: str(data['observationId']), resolved_at: at, resolved_by: actor },
          },
        ];
      }
      default:
        return [];
    }
  },
};

/** The confirmations of `entity` an observation just judged, judged again by what it found next. */
function sameObservation(view: ReadModelView, deployment: string, entity: string, observationId: unknown, state: 'confirmed' | 'contradicted'): Change[] {
  return view
    .find(CONFIRMATIONS_TABLE, { deployment, entity })
    .filter((row) => row['observation_id'] === observationId)
    .map((row) => ({ kind: 'put', table: CONFIRMATIONS_TABLE, row: { ...row, state } }));
}

function projectMigration(migrationId: string, event: RecordedEvent, view: ReadModelView): Change[] {
  const data = event.data;
  switch (event.type) {
    case 'MigrationPlanned':
      return typeof data['deployment'] === 'string' ? [{ kind: 'put', table: MIGRATION_DEPLOYMENTS_TABLE, row: { migration_id: migrationId, deployment: data['deployment'] } }] : [];
    case 'MigrationStepCompleted': {
      const deployment = view.get(MIGRATION_DEPLOYMENTS_TABLE, { migration_id: migrationId })?.['deployment'];
      if (typeof deployment !== 'string' || typeof data['step'] !== 'number') return [];
      return observableEffects(data['events']).map(({ entity, expected }) => ({
        kind: 'put',
        table: CONFIRMATIONS_TABLE,
        row: { migration_id: migrationId, step: data['step'] as number, entity, deployment, expected, completed_position: event.position, state: 'awaiting', observation_id: null, observed_at: null },
      }));
    }
    case 'MigrationStepCompensated': {
      const deployment = view.get(MIGRATION_DEPLOYMENTS_TABLE, { migration_id: migrationId })?.['deployment'];
      if (typeof deployment !== 'string') return [];
      return view
        .find(CONFIRMATIONS_TABLE, { deployment })
        .filter((row) => row['migration_id'] === migrationId && row['step'] === data['step'])
        .map((row) => ({ kind: 'put', table: CONFIRMATIONS_TABLE, row: { ...row, state: 'compensated' } }));
    }
    default:
      return [];
  }
}
