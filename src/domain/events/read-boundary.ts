import type { MigrationEvent } from '../migration/process';
import type { ObservationEvent } from '../observation/observation';
import type { TopologyEvent } from '../topology/events';
import type { JsonValue } from '../../common/json';
import type { AuditRecord } from './records';
import { REQUIRED_DATA_FIELDS } from './required-fields';
import { UPCASTERS, type UpcasterChain } from './upcasters';
import { EVENT_TYPES, type EventCategory, isLoggedEventType, SCHEMA_VERSION_FIELD } from './versions';

/**
 * The one place where a recorded event becomes a domain event. Everything that reads the log goes
 * through here: the version in its metadata is read (none: version 1), the upcasters bring its data
 * to the current version, and the type must belong to the stream category asked for. Upcasting
 * happens on what was read, after the hash chain was checked against the stored text, and changes
 * nothing stored. A type of another category is refused; a type this product does not know at all
 * (written by a later version) is handed on unchanged, for the folds to ignore.
 */

/** What the boundary needs of a recorded event (the port's `RecordedEvent` is one). */
export interface RecordedShape {
  readonly type: string;
  readonly data: { readonly [key: string]: JsonValue };
  readonly metadata: { readonly [key: string]: unknown };
  readonly streamId?: string;
  readonly revision?: number;
}

/** A recorded event the product cannot read: a type out of its stream, a version unknown, a shape not an object. */
export class RecordedEventUnreadable extends Error {
  readonly code = 'RECORDED_EVENT_UNREADABLE';
  constructor(event: RecordedShape, problem: string) {
    super(`${event.streamId ?? 'a stream'}@${event.revision ?? '?'} (${event.type}): ${problem}`);
    this.name = 'RecordedEventUnreadable';
  }
}

/** Where the versions and upcasters come from; tests pass a chain of their own. */
export interface Versioning {
  readonly current: (type: string) => number | undefined;
  readonly upcasters: UpcasterChain;
}

export const PRODUCT_VERSIONING: Versioning = {
  current: (type) => (isLoggedEventType(type) ? EVENT_TYPES[type].version : undefined),
  upcasters: UPCASTERS,
};

/** The schema version an event was written at: its metadata's `schemaVersion`, or 1 when it has none. */
export function schemaVersionOf(event: RecordedShape): number {
  const version = isObject(event.metadata) ? event.metadata[SCHEMA_VERSION_FIELD] : undefined;
  if (version === undefined) return 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new RecordedEventUnreadable(event, `metadata.${SCHEMA_VERSION_FIELD} must be a positive integer, got ${JSON.stringify(version)}`);
  }
  return version;
}

/**
 * The event with its data at the current version of its type (the same object when it already is).
 * A type the product does not know is passed through as it is: generic readers (the audit trail)
 * still list it.
 */
export function upcast<E extends RecordedShape>(event: E, versioning: Versioning = PRODUCT_VERSIONING): E {
  const current = versioning.current(event.type);
  if (current === undefined) return event;
  let version = schemaVersionOf(event);
  if (version === current) return event;
  if (version > current) throw new RecordedEventUnreadable(event, `version ${version} is newer than this product reads (${current})`);
  if (!isObject(event.data)) throw new RecordedEventUnreadable(event, 'data must be a JSON object');
  let data = event.data;
  for (; version < current; version++) {
    const step = versioning.upcasters[event.type]?.[version];
    if (step === undefined) throw new RecordedEventUnreadable(event, `no upcaster from version ${version} to ${version + 1}`);
    data = step(data, event.metadata);
  }
  return { ...event, data, metadata: { ...event.metadata, [SCHEMA_VERSION_FIELD]: current } };
}

/** As {@link upcast}, but an event it cannot read is handed on as recorded: the audit trail lists every event. */
export function upcastOrAsRecorded<E extends RecordedShape>(event: E, versioning: Versioning = PRODUCT_VERSIONING): E {
  try {
    return upcast(event, versioning);
  } catch {
    return event;
  }
}

function isObject(value: unknown): value is { readonly [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toCategory(event: RecordedShape, category: EventCategory, versioning: Versioning): { type: string; data: { readonly [key: string]: JsonValue } } {
  if (isLoggedEventType(event.type) && EVENT_TYPES[event.type].category !== category) {
    throw new RecordedEventUnreadable(event, `not an event of a ${category} stream`);
  }
  // A type this product does not know (a later version wrote it) passes as it is: every fold ignores
  // the types it does not know, as the read models always have.
  if (!isObject(event.data)) throw new RecordedEventUnreadable(event, 'data must be a JSON object');
  const current = upcast(event, versioning);
  const missing = (REQUIRED_DATA_FIELDS[current.type] ?? []).filter((field) => current.data[field] === undefined);
  if (missing.length > 0) throw new RecordedEventUnreadable(event, `data.${missing[0]} is missing (required at version ${versioning.current(current.type) ?? '?'}: ${missing.map((f) => `data.${f}`).join(', ')} absent)`);
  return { type: current.type, data: current.data };
}

/** Whether the event is one of the category's types (a projection skips the others). */
export function isOfCategory(type: string, category: EventCategory): boolean {
  return isLoggedEventType(type) && EVENT_TYPES[type].category === category;
}

// The casts below are the only ones from recorded data to domain events: the type was checked
// against the category, the data is an object at the current version of that type.

export function toTopologyEvent(event: RecordedShape, versioning: Versioning = PRODUCT_VERSIONING): TopologyEvent {
  return toCategory(event, 'topology', versioning) as TopologyEvent;
}

export function toMigrationEvent(event: RecordedShape, versioning: Versioning = PRODUCT_VERSIONING): MigrationEvent {
  return toCategory(event, 'migration', versioning) as unknown as MigrationEvent;
}

export function toObservationEvent(event: RecordedShape, versioning: Versioning = PRODUCT_VERSIONING): ObservationEvent {
  return toCategory(event, 'observation', versioning) as unknown as ObservationEvent;
}

const AUDIT_CATEGORIES: readonly EventCategory[] = ['refused_command', 'access_denied', 'api_token'];

export function toAuditRecord(event: RecordedShape, versioning: Versioning = PRODUCT_VERSIONING): AuditRecord {
  const category = isLoggedEventType(event.type) ? EVENT_TYPES[event.type].category : undefined;
  if (category === undefined || !AUDIT_CATEGORIES.includes(category)) throw new RecordedEventUnreadable(event, 'not an audit record');
  return toCategory(event, category, versioning) as unknown as AuditRecord;
}
