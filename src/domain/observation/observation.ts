import { DomainError } from '../errors';
import { type Coverage, covers, type DriftItem, type DriftKind, type EntityView } from './drift';
import type { SnapshotCounts, SnapshotSource } from './snapshot';

/**
 * The observations of one deployment and the drift they found: a stream of its own
 * (`observation-<deployment>`), so drift has a history (first seen, by which observation, how it was
 * resolved) without touching the topology's stream.
 */
export type ObservationEvent = ObservationRecorded | DriftDetected | DriftResolved;

export type ObservationRecorded = {
  type: 'ObservationRecorded';
  data: {
    observationId: string;
    source: SnapshotSource;
    /** When the collector ran, as the document says; null when it does not say (a topology document). */
    collectedAt: string | null;
    /** SHA-256 (hex) of the document as sent. */
    sha256: string;
    counts: SnapshotCounts;
    coverage: Coverage;
    /** How many drift items the observation found (new or still open). */
    driftCount: number;
    /** The ledger's topology revision the observation was compared with (-1: empty ledger). */
    ledgerRevision: number;
  };
};

export type DriftDetected = {
  type: 'DriftDetected';
  data: {
    observationId: string;
    entity: string;
    kind: DriftKind;
    ledger: EntityView | null;
    observed: EntityView | null;
    fields: readonly string[] | null;
  };
};

export type DriftResolution = 'adopted' | 'gone';

export type DriftResolved = {
  type: 'DriftResolved';
  data: {
    entity: string;
    /** The observation that found the drift. */
    detectedBy: string;
    resolution: DriftResolution;
    /** `adopted`: the observation adopted from; `gone`: the later observation that no longer saw it. */
    observationId: string;
  };
};

export interface OpenDrift {
  readonly item: DriftItem;
  readonly detectedBy: string;
}

export interface ObservationState {
  /** Observation id by the SHA-256 of its document. */
  readonly bySha256: ReadonlyMap<string, string>;
  readonly coverage: ReadonlyMap<string, Coverage>;
  /** The newest observation, null before the first. */
  readonly latest: string | null;
  readonly open: ReadonlyMap<string, OpenDrift>;
}

export function initialObservationState(): ObservationState {
  return { bySha256: new Map(), coverage: new Map(), latest: null, open: new Map() };
}

/** Folds a whole history at once, without a copy per event. */
export function foldObservations(events: readonly ObservationEvent[], from: ObservationState = initialObservationState()): ObservationState {
  const bySha256 = new Map(from.bySha256);
  const coverage = new Map(from.coverage);
  const open = new Map(from.open);
  let latest = from.latest;
  for (const event of events) {
    switch (event.type) {
      case 'ObservationRecorded':
        bySha256.set(event.data.sha256, event.data.observationId);
        coverage.set(event.data.observationId, event.data.coverage);
        latest = event.data.observationId;
        break;
      case 'DriftDetected': {
        const { observationId, entity, kind, ledger, observed, fields } = event.data;
        open.set(entity, { item: { entity, kind, ledger, observed, ...(fields ? { fields } : {}) }, detectedBy: observationId });
        break;
      }
      case 'DriftResolved':
        open.delete(event.data.entity);
        break;
    }
  }
  return { bySha256, coverage, latest, open };
}

export interface RecordObservation {
  readonly observationId: string;
  readonly sha256: string;
  readonly source: SnapshotSource;
  readonly collectedAt: string | null;
  readonly counts: SnapshotCounts;
  readonly coverage: Coverage;
  readonly drift: readonly DriftItem[];
  readonly ledgerRevision: number;
}

function sameItem(a: DriftItem, b: DriftItem): boolean {
  return a.kind === b.kind && canonical(a.ledger) === canonical(b.ledger) && canonical(a.observed) === canonical(b.observed);
}

function canonical(view: EntityView | null): string {
  if (view === null) return 'null';
  return JSON.stringify(Object.keys(view).sort().map((key) => [key, view[key]]));
}

/**
 * What recording an observation appends: nothing when the same document was recorded before;
 * otherwise the observation, a DriftDetected for each item that is new or changed, and a
 * DriftResolved (`gone`) for each open item the observation covers and no longer finds.
 */
export function decideObservation(command: RecordObservation, state: ObservationState): ObservationEvent[] {
  if (state.bySha256.has(command.sha256)) return [];
  const { observationId } = command;
  const events: ObservationEvent[] = [
    {
      type: 'ObservationRecorded',
      data: {
        observationId,
        source: command.source,
        collectedAt: command.collectedAt,
        sha256: command.sha256,
        counts: command.counts,
        coverage: command.coverage,
        driftCount: command.drift.length,
        ledgerRevision: command.ledgerRevision,
      },
    },
  ];
  const found = new Set<string>();
  for (const item of command.drift) {
    found.add(item.entity);
    const open = state.open.get(item.entity);
    if (open && sameItem(open.item, item)) continue;
    events.push({
      type: 'DriftDetected',
      data: { observationId, entity: item.entity, kind: item.kind, ledger: item.ledger, observed: item.observed, fields: item.fields ?? null },
    });
  }
  for (const [entity, open] of state.open) {
    if (found.has(entity) || !covers(command.coverage, entity)) continue;
    events.push({ type: 'DriftResolved', data: { entity, detectedBy: open.detectedBy, resolution: 'gone', observationId } });
  }
  return events;
}

export class ObservationNotFound extends DomainError {
  readonly code = 'OBSERVATION_NOT_FOUND';
  readonly category = 'not_found';
  constructor(observationId: string, deployment: string) {
    super(`No observation ${observationId} in deployment '${deployment}'.`, { field: 'observationId', details: { observationId, deployment } });
  }
}

export class ObservationSuperseded extends DomainError {
  readonly code = 'OBSERVATION_SUPERSEDED';
  readonly category = 'conflict';
  constructor(observationId: string, latest: string) {
    super(`Observation ${observationId} is not the newest of its deployment; adopt from the newest, ${latest}, which shows the deployment as it is now.`, {
      field: 'observationId',
      details: { observationId, latest },
    });
  }
}

export class DriftNotOpen extends DomainError {
  readonly code = 'DRIFT_NOT_OPEN';
  readonly category = 'conflict';
  constructor(entities: readonly string[], observationId: string) {
    super(`Observation ${observationId} has no open drift for ${entities.join(', ')}: nothing to adopt there (GET /api/drift lists what is open).`, {
      field: 'entities',
      details: { entities: [...entities], observationId },
    });
  }
}

/** The open drift an adoption from `observationId` takes: all it covers, or the entities named. */
export function driftToAdopt(state: ObservationState, observationId: string, deployment: string, entities?: readonly string[]): OpenDrift[] {
  const coverage = state.coverage.get(observationId);
  if (!coverage) throw new ObservationNotFound(observationId, deployment);
  if (state.latest !== observationId && state.latest !== null) throw new ObservationSuperseded(observationId, state.latest);
  const covered = [...state.open.values()].filter((open) => covers(coverage, open.item.entity));
  if (entities === undefined) return covered;
  const byEntity = new Map(covered.map((open) => [open.item.entity, open]));
  const missing = entities.filter((entity) => !byEntity.has(entity));
  if (missing.length > 0) throw new DriftNotOpen(missing, observationId);
  return [...new Set(entities)].map((entity) => byEntity.get(entity)!);
}

/** The resolutions an adoption records, one per adopted item. */
export function adoptedResolutions(adopted: readonly OpenDrift[], observationId: string): DriftResolved[] {
  return adopted.map((open) => ({
    type: 'DriftResolved',
    data: { entity: open.item.entity, detectedBy: open.detectedBy, resolution: 'adopted', observationId },
  }));
}

/** A document that is not a snapshot of the product's schema, or not a topology document it can read. */
export class InvalidSnapshot extends DomainError {
  readonly code = 'INVALID_SNAPSHOT';
  readonly category = 'invalid';
  /** `path`: where in the document (`$.endpoints[3].sipAddress`, or an XML element path); `expected`: what should be there. */
  constructor(path: string, expected: string, problem?: string) {
    super(`Invalid snapshot at ${path}: expected ${expected}${problem ? ` (${problem})` : ''}. Nothing was recorded.`, {
      field: path,
      details: { path, expected, ...(problem ? { problem } : {}) },
    });
  }
}
