import { createHash, randomUUID } from 'node:crypto';
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { canonicalJson } from '../common/canonical-json';

// Canonical JSON lives in src/common (the hash chain encodes with it too); re-exported for the callers that take it from here.
export { canonicalCopy, canonicalJson } from '../common/canonical-json';

/** Who asks for a change, why, and from where: everything the audit trail records beside the events. */
export interface CommandContext {
  readonly actor: string;
  readonly roles: readonly string[];
  /** False until the actor comes from a verified credential. */
  readonly authenticated: boolean;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly reason: string | null;
  readonly clientAddress: string | null;
  readonly occurredAt: string;
  /** Set on the commands a migration applies: which migration, which step, running or compensating. */
  readonly migration?: { readonly id: string; readonly step: number; readonly phase: 'run' | 'rollback' };
}

/**
 * The metadata every event of a command carries (and every refusal record). The event's schema
 * version (`schemaVersion`) is added per event type on append (`withSchemaVersion`).
 */
export function auditMetadata(context: CommandContext, extra: JsonObject): JsonObject {
  return {
    actor: context.actor,
    roles: [...context.roles],
    authenticated: context.authenticated,
    commandId: context.commandId,
    correlationId: context.correlationId,
    causationId: context.causationId,
    reason: context.reason,
    clientAddress: context.clientAddress,
    occurredAt: context.occurredAt,
    ...(context.migration ? { migrationId: context.migration.id, migrationStep: context.migration.step, migrationPhase: context.migration.phase } : {}),
    ...extra,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID (version 8, name-based) derived from a name: the same name always gives the same id. */
export function uuidFromName(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The command id: the client's `commandId` or `Idempotency-Key` (a key that is not a UUID is turned
 * into one), else a fresh one. The same key always gives the same id, which is what makes a retry
 * find the first result.
 */
export function commandIdFrom(commandId: string | undefined, idempotencyKey: string | undefined): string {
  const key = commandId ?? idempotencyKey;
  if (key === undefined) return randomUUID();
  return UUID.test(key) ? key.toLowerCase() : uuidFromName(`idempotency-key:${key}`);
}

/** A fingerprint of what a command asks for, so a reused idempotency key with another request is caught. */
export function commandFingerprint(name: string, deployment: string, input: JsonValue): string {
  return createHash('sha256').update(`${name}\n${deployment}\n${canonicalJson(input)}`).digest('hex').slice(0, 32);
}
