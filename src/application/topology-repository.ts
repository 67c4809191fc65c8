import { Inject, Injectable } from '@nestjs/common';
import { EVENT_STORE, EventStore, JsonObject, RecordedEvent, StreamNotFound } from '../event-store/event-store';
import { foldTopology, initialState, TopologyEvent, TopologyState } from '../domain';
import { topologyStreamId } from './streams';

/** What a command produced, kept so that a retry with the same command id gets it back. */
export interface CommandOutcome {
  readonly commandId: string;
  readonly fingerprint: string | null;
  readonly events: { type: string; data: JsonObject; streamId: string; revision: number }[];
  readonly position: number;
  readonly warnings: JsonObject[];
}

/** A deployment's topology as of `revision` of its stream (-1: no stream yet). */
export interface LoadedTopology {
  readonly deployment: string;
  readonly streamId: string;
  readonly state: TopologyState;
  readonly revision: number;
  readonly outcomes: ReadonlyMap<string, CommandOutcome>;
}

interface CacheEntry {
  state: TopologyState;
  revision: number;
  outcomes: Map<string, CommandOutcome>;
}

/**
 * Loads a deployment's topology for the write side. Each deployment's state is kept in memory and
 * caught up from the store on every load (a short read of what came after the cached revision), so
 * appends by another process are seen before deciding; the expected revision on append guards the rest.
 */
@Injectable()
export class TopologyRepository {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async load(deployment: string): Promise<LoadedTopology> {
    const streamId = topologyStreamId(deployment);
    let entry = this.cache.get(deployment);
    if (!entry) {
      entry = { state: initialState(), revision: -1, outcomes: new Map() };
      this.cache.set(deployment, entry);
    }
    let newer: RecordedEvent[];
    try {
      // Read from the last revision already known (not the one after it): the stream then answers
      // with at least that event, which spares the store a second query to tell "nothing new" from
      // "no such stream".
      const from = Math.max(0, entry.revision);
      newer = (await this.store.readStream(streamId, { fromRevision: from })).filter((e) => e.revision > entry!.revision);
    } catch (error) {
      if (!(error instanceof StreamNotFound)) throw error;
      newer = [];
    }
    if (newer.length > 0) {
      entry.state = foldTopology(newer.map(asTopologyEvent), entry.state);
      entry.revision = newer[newer.length - 1]!.revision;
      for (const event of newer) indexOutcome(entry.outcomes, event);
    }
    return { deployment, streamId, state: entry.state, revision: entry.revision, outcomes: entry.outcomes };
  }

  /** Records what this process just appended, so the next load starts from it. */
  appended(deployment: string, state: TopologyState, revision: number, outcome: CommandOutcome): void {
    const entry = this.cache.get(deployment);
    if (!entry || entry.revision >= revision) return;
    entry.state = state;
    entry.revision = revision;
    entry.outcomes.set(outcome.commandId, outcome);
  }
}

function asTopologyEvent(event: RecordedEvent): TopologyEvent {
  return { type: event.type, data: event.data } as unknown as TopologyEvent;
}

function indexOutcome(outcomes: Map<string, CommandOutcome>, event: RecordedEvent): void {
  const commandId = event.metadata['commandId'];
  if (typeof commandId !== 'string') return;
  const appended = { type: event.type, data: event.data, streamId: event.streamId, revision: event.revision };
  const earlier = outcomes.get(commandId);
  if (earlier) {
    outcomes.set(commandId, { ...earlier, events: [...earlier.events, appended], position: event.position });
    return;
  }
  const fingerprint = event.metadata['commandFingerprint'];
  const warnings = event.metadata['warnings'];
  outcomes.set(commandId, {
    commandId,
    fingerprint: typeof fingerprint === 'string' ? fingerprint : null,
    events: [appended],
    position: event.position,
    warnings: Array.isArray(warnings) ? (warnings as JsonObject[]) : [],
  });
}
