import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { JsonObject, RecordedEvent } from '../../src/event-store/event-store';
import type { Projection, TableReader } from './projection';
import { ProjectionTables, ReadModelReader, ReadModelWriter } from './read-model-store';

/** Runs a projection over events into an in-memory database through the real store; for projection specs. */
export function projectEvents(projection: Projection, events: readonly RecordedEvent[]): TableReader {
  const db = new Database(':memory:');
  const tables = new ProjectionTables(projection, 1);
  for (const statement of [...tables.ddl(), ...tables.indexDdl()]) db.exec(statement);
  const writer = new ReadModelWriter(db, tables);
  db.transaction(() => {
    for (const event of events) writer.apply(projection.project(event, writer), event.position, event);
  })();
  return new ReadModelReader(db, tables);
}

let nextPosition = 1;
const revisions = new Map<string, number>();

/** A recorded event for specs; positions and stream revisions count up unless given. */
export function recorded(
  streamId: string,
  type: string,
  data: JsonObject,
  options: { position?: number; revision?: number; metadata?: JsonObject; created?: Date } = {},
): RecordedEvent {
  const revision = options.revision ?? (revisions.get(streamId) ?? -1) + 1;
  revisions.set(streamId, revision);
  const position = options.position ?? nextPosition;
  nextPosition = Math.max(nextPosition, position) + 1;
  return {
    id: randomUUID(),
    streamId,
    revision,
    position,
    type,
    data,
    metadata: options.metadata ?? {},
    created: options.created ?? new Date(Date.UTC(2026, 0, 1) + position * 1000),
  };
}
