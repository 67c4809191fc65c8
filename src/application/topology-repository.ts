import { Inject, Injectable } from '@nestjs/common';
import { EVENT_STORE, EventStore, JsonObject, RecordedEvent, StreamNotFound } from '../event-store/event-store';
import { foldTopology, initialState, TopologyEvent, TopologyState } from '../domain';
import { topologyStreamId } from './streams';
import { toTopologyEvent } from '../domain/events';

/** What a command produced, as the API answers it. */
export interface CommandOutcome {
  readonly commandId: string;
  readonly fingerprint: string | null;
  readonly events: { type: string; data: JsonObject; streamId: string; revision: number }[];
  readonly position: number;
  readonly warnings: JsonObject[];
}

/**
 * Where a command's events are, kept for every command of a deployment so that a retry with the
 * same command id gets the first result back. Small on purpose: the events themselves are read
 * again from the store when a retry comes.
 */
export interface CommandRecord {
  readonly fingerprint: string | null;
  readonly firstRevision: number;
  readonly count: number;
  readonly position: number;
  readonly warnings: JsonObject[];
}

const NO_WARNINGS: JsonObject[] = [];

/** A deployment's topology as of `revision` of its stream (-1: no stream yet). */
export interface LoadedTopology {
  readonly deployment: string;
  readonly streamId: string;
  readonly state: TopologyState;
  readonly revision: number;
  readonly commands: ReadonlyMap<string, CommandRecord>;
}

interface CacheEntry {
  state: TopologyState;
  revision: number;
  commands: Map<string, CommandRecord>;
}

/**
 * Loads a deployment's topology for the write side. Each deployment's state is kept in memory and
 * caught up from the store on every load (a short read of what came after the cached revision), so
 * appends by another process are seen before deciding; the expected revision on append guards the rest.
 * The read is skipped when the store can tell, without reading, that the stream is still at the
 * cached revision (`EventStore.knownRevision`).
 */
@Injectable()
export class TopologyRepository {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async load(deployment: string): Promise<LoadedTopology> {
    const streamId = topologyStreamId(deployment);
    let entry = this.cache.get(deployment);
    if (!entry) {
      entry = { state: initialState(), revision: -1, commands: new Map() };
      this.cache.set(deployment, entry);
    }
    // The store knows the stream is where this cache left it (this process appended last, and no
    // other process has appended since): nothing to catch up on.
    if (entry.revision >= 0 && this.store.knownRevision?.(streamId) === entry.revision) {
      return { deployment, streamId, state: entry.state, revision: entry.revision, commands: entry.commands };
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
      for (const event of newer) recordCommand(entry.commands, event);
    }
    return { deployment, streamId, state: entry.state, revision: entry.revision, commands: entry.commands };
  }

  /** Records what this process just appended, so the next load starts from it. */
  appended(deployment: string, state: TopologyState, revision: number, commandId: string, record: CommandRecord): void {
    this.appendedAll(deployment, state, revision, new Map([[commandId, record]]));
  }

  /** Records what this process just appended for several commands in one append (a group commit). */
  appendedAll(deployment: string, state: TopologyState, revision: number, records: ReadonlyMap<string, CommandRecord>): void {
    const entry = this.cache.get(deployment);
    if (!entry || entry.revision >= revision) return;
    entry.state = state;
    entry.revision = revision;
    for (const [commandId, record] of records) entry.commands.set(commandId, record);
  }

  /** The result of an earlier command, its events read back from the store. */
  async outcomeOf(streamId: string, commandId: string, record: CommandRecord): Promise<CommandOutcome> {
    const events = await this.store.readStream(streamId, { fromRevision: record.firstRevision, maxCount: record.count });
    return {
      commandId,
      fingerprint: record.fingerprint,
      events: events.map((e) => ({ type: e.type, data: e.data, streamId: e.streamId, revision: e.revision })),
      position: record.position,
      warnings: record.warnings,
    };
  }
}

function asTopologyEvent(event: RecordedEvent): TopologyEvent {
  return toTopologyEvent(event);
}

function recordCommand(commands: Map<string, CommandRecord>, event: RecordedEvent): void {
  const commandId = event.metadata['commandId'];
  if (typeof commandId !== 'string') return;
  const earlier = commands.get(commandId);
  if (earlier) {
    commands.set(commandId, { ...earlier, count: earlier.count + 1, position: event.position });
    return;
  }
  const fingerprint = event.metadata['commandFingerprint'];
  const warnings = event.metadata['warnings'];
  commands.set(commandId, {
    fingerprint: typeof fingerprint === 'string' ? fingerprint : null,
    firstRevision: event.revision,
    count: 1,
    position: event.position,
    warnings: Array.isArray(warnings) && warnings.length > 0 ? (warnings as JsonObject[]) : NO_WARNINGS,
  });
}
