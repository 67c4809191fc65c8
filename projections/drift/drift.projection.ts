import type { RecordedEvent } from '../../src/event-store/event-store';
import type { Change, Projection, ReadModelView } from '../runner/projection';

/**
 * Drift between the ledger and the observed deployment (`GET /api/drift`, `topo drift`): one row per
 * deployment and entity with the latest drift found for it, when and by whom it was first seen, and
 * how it was resolved. Built from the observation streams (`observation-<deployment>`).
 */
export const DRIFT_TABLE = 'items';
/** Every observation: who sent it, when it was collected, its digest and counts. */
export const OBSERVATIONS_TABLE = 'observations';

const OBSERVATION_STREAM = /^observation-(.+)$/;

function who(event: RecordedEvent): { actor: string | null; at: string } {
  const actor = event.metadata['actor'];
  const occurredAt = event.metadata['occurredAt'];
  return { actor: typeof actor === 'string' ? actor : null, at: typeof occurredAt === 'string' ? occurredAt : event.created.toISOString() };
}

const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export const driftProjection: Projection = {
  name: 'drift',
  version: 1,
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
  ],
  project(event: RecordedEvent, view: ReadModelView): readonly Change[] {
    const match = OBSERVATION_STREAM.exec(event.streamId);
    if (!match) return [];
    const deployment = match[1]!;
    const { actor, at } = who(event);
    const data = event.data;
    switch (event.type) {
      case 'ObservationRecorded':
        return [
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
      case 'DriftDetected': {
        const entity = String(data['entity']);
        const previous = view.get(DRIFT_TABLE, { deployment, entity });
        // Still open and seen again with other values: it keeps the time it was first seen.
        const stillOpen = previous !== undefined && previous['status'] === 'open';
        return [
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
