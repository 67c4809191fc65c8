import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type AdoptObservedState,
  adoptedResolutions,
  computeDrift,
  countsOf,
  coverageOf,
  decideAdoption,
  decideObservation,
  driftToAdopt,
  type DriftItem,
  expectedSnapshot,
  foldObservations,
  type ObservationEvent,
  type ObservationState,
  type Snapshot,
} from '../../domain';
import { EVENT_STORE, type EventStore, type EventToAppend, type JsonObject, type RecordedEvent, StreamNotFound, WrongExpectedVersion } from '../../event-store/event-store';
import { auditMetadata, type CommandContext, uuidFromName } from '../audit';
import { ConcurrencyConflict } from '../errors';
import { KeyedLock } from '../keyed-lock';
import { observationStreamId } from '../streams';
import { TopologyRepository } from '../topology-repository';
import { type DocumentKind, parseDocument } from './parse-snapshot';
import { SNAPSHOT_FORMAT, SNAPSHOT_SCHEMA_VERSION } from '../../domain';
import { toObservationEvent } from '../../domain/events';
import { withSchemaVersions } from '../../domain/events';

export interface ObservationAnswer {
  readonly observationId: string;
  readonly deployment: string;
  /** False when the same document was recorded before: nothing new was appended. */
  readonly recorded: boolean;
  readonly drift: readonly DriftItem[];
  /** Log position of the last event appended (0 when none), for `minPosition` reads of `/api/drift`. */
  readonly position: number;
}

export interface AdoptionAnswer {
  readonly commandId: string;
  readonly deployment: string;
  readonly observationId: string;
  readonly adopted: readonly string[];
  readonly events: { type: string; data: JsonObject; streamId: string; revision: number }[];
  readonly position: number;
  readonly warnings: JsonObject[];
  readonly whatIf: boolean;
  readonly replayed: boolean;
}

const MAX_ATTEMPTS = 8;

/**
 * Records observations of the real deployment and the drift they show, and adopts drift into the
 * ledger through the topology decider. The observation stream and the topology stream are each
 * appended with their expected revision; an adoption appends its topology events first and then
 * the resolutions (a crash between the two leaves the drift open until the next observation finds
 * it gone).
 */
@Injectable()
export class Observations {
  private readonly lock = new KeyedLock();
  private readonly cache = new Map<string, { state: ObservationState; revision: number }>();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly topology: TopologyRepository,
  ) {}

  /** Parses and reconciles a document; records it unless the same document was recorded before. */
  record(deployment: string, document: Buffer, kind: DocumentKind, context: CommandContext): Promise<ObservationAnswer> {
    const snapshot = parseDocument(document, kind);
    const sha256 = createHash('sha256').update(document).digest('hex');
    return this.lock.run(deployment, () => this.recordParsed(deployment, snapshot, sha256, context));
  }

  private async recordParsed(deployment: string, snapshot: Snapshot, sha256: string, context: CommandContext): Promise<ObservationAnswer> {
    const observationId = uuidFromName(`observation/${deployment}/${sha256}`);
    for (let attempt = 1; ; attempt++) {
      const ledger = await this.topology.load(deployment);
      const { state, revision } = await this.load(deployment);
      const drift = computeDrift(ledger.state, snapshot);
      const events = decideObservation(
        {
          observationId,
          sha256,
          source: snapshot.source,
          collectedAt: snapshot.collectedAt,
          counts: countsOf(snapshot),
          coverage: coverageOf(snapshot),
          drift,
          ledgerRevision: ledger.revision,
        },
        state,
      );
      if (events.length === 0) return { observationId: state.bySha256.get(sha256) ?? observationId, deployment, recorded: false, drift, position: 0 };
      const metadata = auditMetadata(context, { deployment, command: 'RecordObservation', observationId });
      try {
        const appended = await this.append(deployment, events, revision, metadata, `${observationId}`);
        return { observationId, deployment, recorded: true, drift, position: appended };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyConflict(deployment, attempt);
      }
    }
  }

  /** The snapshot a collector would send if the deployment were exactly the ledger, in the document's JSON form. */
  async expected(deployment: string, now: Date): Promise<JsonObject> {
    const { state } = await this.topology.load(deployment);
    const snapshot = expectedSnapshot(state, now.toISOString());
    const { source: _source, collectedAt, ...sections } = snapshot;
    return {
      format: SNAPSHOT_FORMAT,
      schemaVersion: SNAPSHOT_SCHEMA_VERSION,
      collectedAt: collectedAt ?? now.toISOString(),
      collector: { name: 'topology-ledger (expected)' },
      ...(sections as unknown as JsonObject),
    };
  }

  /** The open drift an observation found (it must be the deployment's newest), as adoption would take it. */
  async openDrift(deployment: string, observationId: string): Promise<DriftItem[]> {
    const { state } = await this.load(deployment);
    return driftToAdopt(state, observationId, deployment).map((open) => open.item);
  }

  /** Adopts open drift of an observation: through the topology decider, all or nothing. */
  adopt(deployment: string, command: AdoptObservedState, context: CommandContext, fingerprint: string, whatIf: boolean): Promise<AdoptionAnswer> {
    return this.lock.run(deployment, () => this.adoptLocked(deployment, command, context, fingerprint, whatIf));
  }

  private async adoptLocked(deployment: string, command: AdoptObservedState, context: CommandContext, fingerprint: string, whatIf: boolean): Promise<AdoptionAnswer> {
    for (let attempt = 1; ; attempt++) {
      const ledger = await this.topology.load(deployment);
      const earlier = ledger.commands.get(context.commandId);
      const base = { commandId: context.commandId, deployment, observationId: command.observationId };
      if (earlier) {
        const outcome = await this.topology.outcomeOf(ledger.streamId, context.commandId, earlier);
        return { ...base, adopted: [], events: outcome.events, position: outcome.position, warnings: outcome.warnings, whatIf: false, replayed: true };
      }
      const observations = await this.load(deployment);
      const items = driftToAdopt(observations.state, command.observationId, deployment, command.entities);
      const adoption = decideAdoption(ledger.state, items.map((open) => open.item), command.reason, observations.state.coverage.get(command.observationId) ?? null);
      const warnings: JsonObject[] = adoption.warnings.map((w) => ({ code: w.code, rule: w.rule, message: w.message }));
      const adopted = items.map((open) => open.item.entity);
      const metadata = auditMetadata(context, {
        deployment,
        command: 'AdoptObservedState',
        commandFingerprint: fingerprint,
        warnings,
        observationId: command.observationId,
        adoptedEntities: adopted,
      });
      // The list of what was adopted, and the warnings, once, on the adoption's first event (where a
      // command's record is read from): on every event they made an adoption of n entities n times n long.
      const { adoptedEntities: _list, warnings: _warnings, ...lean } = metadata;
      const metadataOf = (i: number): JsonObject => (i === 0 ? metadata : lean);
      const events = adoption.events.map((e, i): EventToAppend & { data: JsonObject } => ({
        id: uuidFromName(`${ledger.streamId}/${context.commandId}/${i}`),
        type: e.type,
        data: e.data as unknown as JsonObject,
        metadata: metadataOf(i),
      }));
      const described = events.map((e, i) => ({ type: e.type, data: e.data, streamId: ledger.streamId, revision: ledger.revision + 1 + i }));
      const resolutions = adoptedResolutions(items, command.observationId);
      const resolutionStream = observationStreamId(deployment);
      const resolved = resolutions.map((e, i) => ({ type: e.type, data: e.data as unknown as JsonObject, streamId: resolutionStream, revision: observations.revision + 1 + i }));
      if (whatIf) return { ...base, adopted, events: [...described, ...resolved], position: 0, warnings, whatIf: true, replayed: false };
      try {
        let position = 0;
        if (events.length > 0) {
          const appended = await this.store.appendToStream(ledger.streamId, withSchemaVersions(events), { expectedRevision: ledger.revision < 0 ? 'no_stream' : ledger.revision });
          position = appended.position;
          this.topology.appended(deployment, adoption.state, appended.nextExpectedRevision, context.commandId, {
            fingerprint,
            firstRevision: ledger.revision + 1,
            count: events.length,
            position: appended.position,
            warnings,
          });
        }
        if (resolutions.length > 0) {
          position = await this.append(deployment, resolutions, observations.revision, (i) => metadataOf(events.length + i), `adopt/${context.commandId}`);
        }
        return { ...base, adopted, events: [...described, ...resolved], position, warnings, whatIf: false, replayed: false };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion)) throw error;
        if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyConflict(deployment, attempt);
      }
    }
  }

  /**
   * The deployment's observation stream, folded. The fold is kept per deployment and caught up from
   * the revision it had (another process's appends are read; the expected revision guards the rest).
   */
  async load(deployment: string): Promise<{ state: ObservationState; revision: number }> {
    const cached = this.cache.get(deployment) ?? { state: foldObservations([]), revision: -1 };
    let recorded: RecordedEvent[];
    try {
      // From the last revision known, not the one after: as the topology repository does, so that an
      // up-to-date stream answers with that one event rather than nothing.
      recorded = (await this.store.readStream(observationStreamId(deployment), { fromRevision: Math.max(0, cached.revision) })).filter((e) => e.revision > cached.revision);
    } catch (error) {
      if (!(error instanceof StreamNotFound)) throw error;
      recorded = [];
    }
    if (recorded.length === 0) return cached;
    const events = recorded.map((e) => toObservationEvent(e));
    const loaded = { state: foldObservations(events, cached.state), revision: recorded[recorded.length - 1]!.revision };
    this.cache.set(deployment, loaded);
    return loaded;
  }

  private async append(deployment: string, events: readonly ObservationEvent[], revision: number, metadata: JsonObject | ((i: number) => JsonObject), idSeed: string): Promise<number> {
    const streamId = observationStreamId(deployment);
    const metadataOf = typeof metadata === 'function' ? metadata : (): JsonObject => metadata;
    const appended = await this.store.appendToStream(
      streamId,
      withSchemaVersions(events.map((e, i) => ({ id: uuidFromName(`${streamId}/${idSeed}/${i}`), type: e.type, data: e.data as unknown as JsonObject, metadata: metadataOf(i) }))),
      { expectedRevision: revision < 0 ? 'no_stream' : revision },
    );
    return appended.position;
  }
}
