import type { MigrationEvent } from '../migration/process';
import type { ObservationEvent } from '../observation/observation';
import type { TopologyEvent } from '../topology/events';
import type { AuditRecord } from './records';

/** Every event the log holds, by the stream category it is appended to. */
export type LoggedEvent = TopologyEvent | MigrationEvent | ObservationEvent | AuditRecord;
export type LoggedEventType = LoggedEvent['type'];

export type EventCategory = 'topology' | 'migration' | 'observation' | 'refused_command' | 'access_denied' | 'api_token';

/**
 * Each event type's current schema version and stream category. An event's metadata carries its
 * version (`schemaVersion`), written on append; an event without one was written before versions
 * were recorded and is version 1. A change to an event's `data` shape bumps its version here and
 * adds the upcaster from the previous version in `upcasters.ts` (the catalog spec refuses a shape
 * change without both).
 */
export const EVENT_TYPES: { readonly [T in LoggedEventType]: { readonly version: number; readonly category: EventCategory } } = {
  SipDomainRegistered: { version: 1, category: 'topology' },
  DefaultSipDomainChanged: { version: 1, category: 'topology' },
  SipDomainRemoved: { version: 1, category: 'topology' },
  SipPrincipalRegistered: { version: 1, category: 'topology' },
  SipPrincipalDeleted: { version: 1, category: 'topology' },
  LegacyGroupChatPoolDefined: { version: 1, category: 'topology' },
  LegacyGroupChatPoolDecommissioned: { version: 1, category: 'topology' },
  PersistentChatPoolInstalled: { version: 1, category: 'topology' },
  PersistentChatPoolRemoved: { version: 1, category: 'topology' },
  PersistentChatServerAdded: { version: 1, category: 'topology' },
  PersistentChatServerRemoved: { version: 1, category: 'topology' },
  PersistentChatActiveServersChanged: { version: 1, category: 'topology' },
  PersistentChatStateChanged: { version: 1, category: 'topology' },
  PoolStarted: { version: 1, category: 'topology' },
  PoolStopped: { version: 1, category: 'topology' },
  PersistentChatEndpointCreated: { version: 1, category: 'topology' },
  PersistentChatEndpointRemoved: { version: 1, category: 'topology' },
  LegacyPoolDataImported: { version: 1, category: 'topology' },
  LegacyPoolDataImportReverted: { version: 1, category: 'topology' },
  PoolStartReverted: { version: 1, category: 'topology' },
  MigrationPlanned: { version: 1, category: 'migration' },
  MigrationApproved: { version: 1, category: 'migration' },
  MigrationRejected: { version: 1, category: 'migration' },
  MigrationRollbackRequested: { version: 1, category: 'migration' },
  MigrationStepCompleted: { version: 1, category: 'migration' },
  MigrationStepFailed: { version: 1, category: 'migration' },
  MigrationCompleted: { version: 1, category: 'migration' },
  MigrationRollbackStarted: { version: 1, category: 'migration' },
  MigrationStepCompensated: { version: 1, category: 'migration' },
  MigrationStepNotCompensated: { version: 1, category: 'migration' },
  MigrationRolledBack: { version: 1, category: 'migration' },
  ObservationRecorded: { version: 1, category: 'observation' },
  DriftDetected: { version: 1, category: 'observation' },
  DriftResolved: { version: 1, category: 'observation' },
  CommandRefused: { version: 1, category: 'refused_command' },
  AccessDenied: { version: 2, category: 'access_denied' },
  ApiTokenIssued: { version: 1, category: 'api_token' },
  ApiTokenRevoked: { version: 1, category: 'api_token' },
};

/** The metadata field that holds an event's schema version. */
export const SCHEMA_VERSION_FIELD = 'schemaVersion';

export function isLoggedEventType(type: string): type is LoggedEventType {
  return Object.prototype.hasOwnProperty.call(EVENT_TYPES, type);
}

/** The version to write with a new event of this type (1 for a type the catalog does not know). */
export function currentSchemaVersion(type: string): number {
  return isLoggedEventType(type) ? EVENT_TYPES[type].version : 1;
}

/** An event to append with its type's current schema version in its metadata: every append goes through it. */
export function withSchemaVersion<E extends { readonly type: string; readonly metadata?: { readonly [key: string]: unknown } }>(event: E): E {
  return { ...event, metadata: { ...(event.metadata ?? {}), [SCHEMA_VERSION_FIELD]: currentSchemaVersion(event.type) } };
}

export function withSchemaVersions<E extends { readonly type: string; readonly metadata?: { readonly [key: string]: unknown } }>(events: readonly E[]): E[] {
  return events.map(withSchemaVersion);
}
