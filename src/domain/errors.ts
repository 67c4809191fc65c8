import type { JsonValue } from '../common/json';
import { Refusal, type ErrorDetails, type RefusalCategory, type RuleId } from '../common/refusal';

export type { ErrorDetails, RuleId };

/**
 * Every refusal the domain can give: a `Refusal` (stable `code`, `category` that the API maps to a
 * status, `details`) whose `rule` names the rule of domain.md that refused the command. The
 * application's own refusals extend `Refusal`, not this class.
 */
export abstract class DomainError extends Refusal {}

/** Makes a switch over a union exhaustive: adding a member without handling it fails to compile. */
export function assertNever(value: never): never {
  throw new Error(`Unhandled case: ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Input that is wrong whatever the topology holds (400)

export class InvalidSipAddress extends DomainError {
  readonly code = 'INVALID_SIP_ADDRESS';
  readonly category = 'invalid';
  constructor(input: string, field: string, problem: string, hint?: string) {
    super(
      `R1: ${field} '${input}' is not a valid SIP address: ${problem}.` + (hint ? ` Did you mean '${hint}'?` : ''),
      { rule: 'R1', field, details: { input, problem, ...(hint ? { hint } : {}) } },
    );
  }
}

export class InvalidFqdn extends DomainError {
  readonly code = 'INVALID_FQDN';
  readonly category = 'invalid';
  constructor(input: string, field: string, problem: string) {
    // The name's syntax, not a rule of the topology: `schema`, as for any other malformed field.
    super(`${field} '${input}' is not a valid fully qualified domain name: ${problem}.`, {
      field,
      details: { rule: 'schema', input, problem },
    });
  }
}

export class ReasonRequired extends DomainError {
  readonly code = 'REASON_REQUIRED';
  readonly category = 'invalid';
  /** `configured`: the deployment's own policy (`REASON_REQUIRED_FOR`) lists the command, beyond the product's. */
  /** `entity`: the entity key the command is about when its input names it indirectly (an endpoint by DN or display name). */
  constructor(command: string, policy: 'product' | 'configured' = 'product', entity?: string) {
    super(
      policy === 'product'
        ? `${command} needs a reason (policy: every destructive change is recorded with why it was made).`
        : `${command} needs a reason (policy: REASON_REQUIRED_FOR lists it).`,
      { field: 'reason', details: { command, policy: policy === 'product' ? 'destructive commands' : 'REASON_REQUIRED_FOR', ...(entity !== undefined ? { entity } : {}) } },
    );
  }
}

export class ServersRequired extends DomainError {
  readonly code = 'SERVERS_REQUIRED';
  readonly category = 'invalid';
  constructor(field: string) {
    super(`${field} must name at least one server.`, { field, details: { rule: 'schema' } });
  }
}

// ---------------------------------------------------------------------------------------------
// SIP domains and SIP addresses

export class SipDomainNotRegistered extends DomainError {
  readonly code = 'SIP_DOMAIN_NOT_REGISTERED';
  readonly category = 'invalid';
  constructor(domain: string, sipAddress: string, field: string) {
    super(`R1: the SIP domain '${domain}' of ${sipAddress} is not registered in this deployment; register it first (RegisterSipDomain).`, {
      rule: 'R1',
      field,
      details: { domain, sipAddress },
    });
  }
}

export class SipDomainAlreadyRegistered extends DomainError {
  readonly code = 'SIP_DOMAIN_ALREADY_REGISTERED';
  readonly category = 'conflict';
  constructor(domain: string) {
    super(`The SIP domain '${domain}' is already registered.`, { field: 'domain', details: { domain } });
  }
}

export class SipDomainNotFound extends DomainError {
  readonly code = 'SIP_DOMAIN_NOT_FOUND';
  readonly category = 'not_found';
  constructor(domain: string) {
    super(`The SIP domain '${domain}' is not registered.`, { field: 'domain', details: { domain } });
  }
}

export class SipDomainInUse extends DomainError {
  readonly code = 'SIP_DOMAIN_IN_USE';
  readonly category = 'conflict';
  constructor(domain: string, sipAddresses: readonly string[]) {
    const shown = sipAddresses.slice(0, 20);
    super(
      `R1: the SIP domain '${domain}' is still used by ${sipAddresses.length} SIP address(es) (${shown.join(', ')}` +
        `${sipAddresses.length > shown.length ? ', ...' : ''}); remove them first.`,
      { rule: 'R1', field: 'domain', details: { domain, count: sipAddresses.length, sipAddresses: shown } },
    );
  }
}

export class SipDomainIsDefault extends DomainError {
  readonly code = 'SIP_DOMAIN_IS_DEFAULT';
  readonly category = 'conflict';
  constructor(domain: string, others: readonly string[]) {
    super(
      `'${domain}' is the default SIP domain and other domains are registered (${others.join(', ')}); ` +
        `make one of them the default first (SetDefaultSipDomain).`,
      { field: 'domain', details: { domain, otherDomains: [...others] } },
    );
  }
}

export class SipDomainAlreadyDefault extends DomainError {
  readonly code = 'SIP_DOMAIN_ALREADY_DEFAULT';
  readonly category = 'conflict';
  constructor(domain: string) {
    super(`'${domain}' is already the default SIP domain.`, { field: 'domain', details: { domain } });
  }
}

export class DefaultSipDomainRequired extends DomainError {
  readonly code = 'NO_DEFAULT_SIP_DOMAIN';
  readonly category = 'conflict';
  constructor(poolFqdn: string) {
    super(
      `R7: installing ${poolFqdn} creates its default pool contact in the default SIP domain, and this deployment has none; register a SIP domain first.`,
      { rule: 'R7', details: { poolFqdn } },
    );
  }
}

/** What owns a SIP address, in the form errors and responses show it. */
export type SipOwnerDetails = Readonly<Record<string, string | null>>;

export class SipAddressInUse extends DomainError {
  readonly code = 'SIP_ADDRESS_IN_USE';
  readonly category = 'conflict';
  constructor(sipAddress: string, owner: SipOwnerDetails, ownerDescription: string, field: string) {
    super(
      `R3 (policy: a SIP address has one owner at a time): ${sipAddress} is already owned by ${ownerDescription}` +
        (owner['kind'] === 'wellKnownUser'
          ? '; delete the well-known user first (DeleteSipPrincipal) before anything else can take its address.'
          : '.'),
      { rule: 'R3', field, details: { sipAddress, owner } },
    );
  }
}

export class SipPrincipalNotFound extends DomainError {
  readonly code = 'SIP_PRINCIPAL_NOT_FOUND';
  readonly category = 'not_found';
  constructor(sipAddress: string) {
    super(`No SIP principal owns ${sipAddress}.`, { field: 'sipAddress', details: { sipAddress } });
  }
}

export class SipPrincipalNotDeletable extends DomainError {
  readonly code = 'SIP_PRINCIPAL_NOT_DELETABLE';
  readonly category = 'conflict';
  constructor(sipAddress: string, owner: SipOwnerDetails, ownerDescription: string, instead: string) {
    super(`${sipAddress} is owned by ${ownerDescription}, which DeleteSipPrincipal does not remove; use ${instead}.`, {
      field: 'sipAddress',
      details: { sipAddress, owner, instead },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Pools

export type PoolKind = 'persistentChat' | 'legacyGroupChat';

export class PoolNotFound extends DomainError {
  readonly code = 'POOL_NOT_FOUND';
  readonly category = 'not_found';
  constructor(fqdn: string, field: string, rule?: RuleId) {
    super(`${rule ? `${rule}: ` : ''}there is no pool '${fqdn}' in this deployment.`, {
      ...(rule ? { rule } : {}),
      field,
      details: { fqdn },
    });
  }
}

export class PoolAlreadyExists extends DomainError {
  readonly code = 'POOL_ALREADY_EXISTS';
  readonly category = 'conflict';
  constructor(fqdn: string, kind: PoolKind) {
    super(`A ${describePoolKind(kind)} named '${fqdn}' already exists (pool FQDNs are unique across both kinds of pool).`, {
      field: 'fqdn',
      details: { fqdn, existingKind: kind },
    });
  }
}

export class FqdnInUse extends DomainError {
  readonly code = 'FQDN_IN_USE';
  readonly category = 'conflict';
  constructor(fqdn: string, field: string, holder: { poolFqdn: string; role: 'pool' | 'server' }) {
    super(
      holder.role === 'pool'
        ? `'${fqdn}' is the FQDN of the pool ${holder.poolFqdn}; a computer or pool cannot share it.`
        : `'${fqdn}' is already a server of the pool ${holder.poolFqdn}; a computer belongs to one pool.`,
      { field, details: { fqdn, poolFqdn: holder.poolFqdn, role: holder.role } },
    );
  }
}

/** The input is well formed; the pool named is of the other kind: a conflict with the topology as it is (409). */
export class PoolNotPersistentChat extends DomainError {
  readonly code = 'POOL_NOT_PERSISTENT_CHAT';
  readonly category = 'conflict';
  constructor(fqdn: string, field: string, rule?: RuleId) {
    super(
      `${rule ? `${rule}: ` : ''}'${fqdn}' is a legacy Group Chat pool, not a Persistent Chat pool.`,
      { ...(rule ? { rule } : {}), field, details: { fqdn, kind: 'legacyGroupChat' } },
    );
  }
}

/** Two contacts cannot have the same objectGUID (and so the same distinguished name). */
export class ObjectGuidInUse extends DomainError {
  readonly code = 'OBJECT_GUID_IN_USE';
  readonly category = 'conflict';
  constructor(objectGuid: string, holder: string) {
    super(`R3: the contact object ${objectGuid} is already the endpoint ${holder}; each contact has its own objectGUID.`, {
      rule: 'R3',
      field: 'objectGuid',
      details: { objectGuid, holder },
    });
  }
}

/** As PoolNotPersistentChat: the pool exists but is of the other kind (409). */
export class PoolNotLegacyGroupChat extends DomainError {
  readonly code = 'POOL_NOT_LEGACY_GROUP_CHAT';
  readonly category = 'conflict';
  constructor(fqdn: string, field: string) {
    super(`'${fqdn}' is a Persistent Chat pool, not a legacy Group Chat pool.`, {
      rule: 'R15',
      field,
      details: { fqdn, kind: 'persistentChat' },
    });
  }
}

/**
 * A pool's life-cycle `status` (as the topology state calls it: Installed, Started, Stopped,
 * Decommissioned) does not allow the action. The code and the details' names (`state`,
 * `requiredStates`) are stable: clients match on them.
 */
export class PoolStateInvalid extends DomainError {
  readonly code = 'POOL_STATE_INVALID';
  readonly category = 'conflict';
  /** `field`: the command's field that named the pool, when an administrator's command did. */
  constructor(fqdn: string, action: string, status: string, requiredStatuses: readonly string[], field?: string) {
    super(
      `R14 (policy: pool life cycle): cannot ${action} ${fqdn} while it is ${status}; it must be ${requiredStatuses.join(' or ')}.`,
      { rule: 'R14', ...(field ? { field } : {}), details: { fqdn, action, state: status, requiredStates: [...requiredStatuses] } },
    );
  }
}

export interface EndpointSummary {
  readonly sipAddress: string;
  readonly poolFqdn: string;
  readonly displayName: string | null;
  readonly distinguishedName: string;
}

export class PoolHasEndpoints extends DomainError {
  readonly code = 'POOL_HAS_ENDPOINTS';
  readonly category = 'conflict';
  constructor(fqdn: string, endpoints: readonly EndpointSummary[]) {
    super(
      `R9 (policy): ${fqdn} still has ${endpoints.length} Persistent Chat endpoint(s): ` +
        `${endpoints.map((e) => e.sipAddress).join(', ')}; remove them first (RemoveEndpoint).`,
      { rule: 'R9', details: { fqdn, endpoints: endpoints.map((e) => ({ ...e })) } },
    );
  }
}

export class LegacyPoolStillInUse extends DomainError {
  readonly code = 'LEGACY_POOL_STILL_IN_USE';
  readonly category = 'conflict';
  constructor(fqdn: string, wellKnownSipAddress: string) {
    super(
      `R15 (policy): ${fqdn} cannot be decommissioned: its well-known user ${wellKnownSipAddress} still routes ` +
        `legacy clients to it and no migration has moved its data.`,
      { rule: 'R15', details: { fqdn, wellKnownSipAddress } },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Servers of a Persistent Chat pool

export class TooManyServers extends DomainError {
  readonly code = 'TOO_MANY_SERVERS';
  readonly category: RefusalCategory;
  constructor(poolFqdn: string, field: string, count: number, max: number, category: 'invalid' | 'conflict') {
    super(`R10: a Persistent Chat pool has at most ${max} server(s); ${poolFqdn} would have ${count}.`, {
      rule: 'R10',
      field,
      details: { poolFqdn, count, max },
    });
    this.category = category;
  }
}

export class TooManyActiveServers extends DomainError {
  readonly code = 'TOO_MANY_ACTIVE_SERVERS';
  readonly category: RefusalCategory;
  constructor(poolFqdn: string, field: string, activeServers: readonly string[], max: number, category: 'invalid' | 'conflict') {
    super(
      `R10: a Persistent Chat pool has at most ${max} active servers; ${poolFqdn} would have ${activeServers.length} (${activeServers.join(', ')}).`,
      { rule: 'R10', field, details: { poolFqdn, activeServers: [...activeServers], max } },
    );
    this.category = category;
  }
}

export class SingleServerPool extends DomainError {
  readonly code = 'SINGLE_SERVER_POOL';
  readonly category = 'conflict';
  constructor(poolFqdn: string) {
    super(`R10: ${poolFqdn} was installed on a single computer and cannot gain servers.`, {
      rule: 'R10',
      field: 'poolFqdn',
      details: { poolFqdn },
    });
  }
}

export class ServerAlreadyInPool extends DomainError {
  readonly code = 'SERVER_ALREADY_IN_POOL';
  readonly category = 'conflict';
  constructor(poolFqdn: string, serverFqdn: string) {
    super(`${serverFqdn} is already a server of ${poolFqdn}.`, { field: 'serverFqdn', details: { poolFqdn, serverFqdn } });
  }
}

export class ServerNotFound extends DomainError {
  readonly code = 'SERVER_NOT_FOUND';
  readonly category = 'not_found';
  constructor(poolFqdn: string, serverFqdn: string) {
    super(`${serverFqdn} is not a server of ${poolFqdn}.`, { field: 'serverFqdn', details: { poolFqdn, serverFqdn } });
  }
}

export class ServerNotInPool extends DomainError {
  readonly code = 'SERVER_NOT_IN_POOL';
  readonly category = 'conflict';
  /** `field`: the body field that named the servers, after the change's kind (`add`, `remove`, `replace`). */
  constructor(poolFqdn: string, serverFqdns: readonly string[], field: string) {
    super(`R12: only servers of the pool can be active; ${serverFqdns.join(', ')} ${serverFqdns.length === 1 ? 'is' : 'are'} not in ${poolFqdn}.`, {
      rule: 'R12',
      field,
      details: { poolFqdn, serverFqdns: [...serverFqdns] },
    });
  }
}

export class ServerAlreadyActive extends DomainError {
  readonly code = 'SERVER_ALREADY_ACTIVE';
  readonly category = 'conflict';
  /** `field`: the body field that named the servers, after the change's kind (`add`, `remove`, `replace`). */
  constructor(poolFqdn: string, serverFqdns: readonly string[], field: string) {
    super(`R12: ${serverFqdns.join(', ')} ${serverFqdns.length === 1 ? 'is' : 'are'} already active in ${poolFqdn}.`, {
      rule: 'R12',
      field,
      details: { poolFqdn, serverFqdns: [...serverFqdns] },
    });
  }
}

export class ServerNotActive extends DomainError {
  readonly code = 'SERVER_NOT_ACTIVE';
  readonly category = 'conflict';
  /** `field`: the body field that named the servers, after the change's kind (`add`, `remove`, `replace`). */
  constructor(poolFqdn: string, serverFqdns: readonly string[], field: string) {
    super(`R12: ${serverFqdns.join(', ')} ${serverFqdns.length === 1 ? 'is' : 'are'} not active in ${poolFqdn}.`, {
      rule: 'R12',
      field,
      details: { poolFqdn, serverFqdns: [...serverFqdns] },
    });
  }
}

export class ActiveServersUnchanged extends DomainError {
  readonly code = 'ACTIVE_SERVERS_UNCHANGED';
  readonly category = 'conflict';
  constructor(poolFqdn: string, activeServers: readonly string[]) {
    super(`R12: the active servers of ${poolFqdn} are already ${activeServers.length ? activeServers.join(', ') : 'none'}.`, {
      rule: 'R12',
      details: { poolFqdn, activeServers: [...activeServers] },
    });
  }
}

export class ServerIsActive extends DomainError {
  readonly code = 'SERVER_IS_ACTIVE';
  readonly category = 'conflict';
  constructor(poolFqdn: string, serverFqdn: string) {
    super(
      `R12 (policy): ${serverFqdn} is an active server of ${poolFqdn} and may hold client connections; ` +
        `make it inactive first (SetPersistentChatActiveServers).`,
      { rule: 'R12', field: 'serverFqdn', details: { poolFqdn, serverFqdn } },
    );
  }
}

export class LastServerOfPool extends DomainError {
  readonly code = 'LAST_SERVER_OF_POOL';
  readonly category = 'conflict';
  constructor(poolFqdn: string, serverFqdn: string) {
    super(`Policy: ${serverFqdn} is the last server of ${poolFqdn}; remove the pool instead (RemovePersistentChatPool).`, {
      field: 'serverFqdn',
      details: { poolFqdn, serverFqdn },
    });
  }
}

export class PersistentChatStateUnchanged extends DomainError {
  readonly code = 'PERSISTENT_CHAT_STATE_UNCHANGED';
  readonly category = 'conflict';
  constructor(poolFqdn: string, poolState: string) {
    super(`R11: ${poolFqdn} is already in the ${poolState} state.`, {
      rule: 'R11',
      field: 'poolState',
      details: { poolFqdn, poolState },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Persistent Chat endpoints

export class EndpointNotFound extends DomainError {
  readonly code = 'ENDPOINT_NOT_FOUND';
  readonly category = 'not_found';
  constructor(identity: string, hint?: string, owner?: SipOwnerDetails) {
    super(
      `R6: no Persistent Chat endpoint has the SIP address, display name or distinguished name '${identity}'.` +
        (owner ? ` The address belongs to a ${owner['kind']}, not to an endpoint.` : '') +
        (hint ? ` Did you mean '${hint}'?` : ''),
      { rule: 'R6', field: 'identity', details: { identity, ...(hint ? { hint } : {}), ...(owner ? { owner } : {}) } },
    );
  }
}

export class AmbiguousIdentity extends DomainError {
  readonly code = 'AMBIGUOUS_IDENTITY';
  readonly category = 'invalid';
  constructor(identity: string, matches: readonly EndpointSummary[]) {
    super(
      `R6: the display name '${identity}' matches ${matches.length} endpoints (${matches.map((m) => m.sipAddress).join(', ')}); ` +
        `name one by its SIP address or distinguished name.`,
      { rule: 'R6', field: 'identity', details: { identity, matches: matches.map((m) => ({ ...m })) } },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Migrations (R16–R20)

export class LegacyDataAlreadyImported extends DomainError {
  readonly code = 'LEGACY_DATA_ALREADY_IMPORTED';
  readonly category = 'conflict';
  constructor(legacyPoolFqdn: string, targetPoolFqdn: string) {
    super(`R18: the data of ${legacyPoolFqdn} was already imported into ${targetPoolFqdn}; one legacy pool migrates into one target pool.`, {
      rule: 'R18',
      details: { legacyPoolFqdn, targetPoolFqdn },
    });
  }
}

export class TargetHoldsOtherLegacyData extends DomainError {
  readonly code = 'TARGET_HOLDS_OTHER_LEGACY_DATA';
  readonly category = 'conflict';
  constructor(targetPoolFqdn: string, otherLegacyPoolFqdn: string) {
    super(`R18: ${targetPoolFqdn} already holds the data of ${otherLegacyPoolFqdn}; one legacy pool migrates into one target pool, and an import overwrites rooms of the same name.`, {
      rule: 'R18',
      field: 'targetPoolFqdn',
      details: { targetPoolFqdn, otherLegacyPoolFqdn },
    });
  }
}

export class MigratedDataNotServed extends DomainError {
  readonly code = 'MIGRATED_DATA_NOT_SERVED';
  readonly category = 'conflict';
  constructor(legacyPoolFqdn: string, targetPoolFqdn: string) {
    super(
      `R16: ${legacyPoolFqdn} cannot be decommissioned yet: its data moved to ${targetPoolFqdn}, which is not Started; ` +
        `finish the migration (start the Persistent Chat pool) or roll it back first.`,
      { rule: 'R16', details: { legacyPoolFqdn, targetPoolFqdn } },
    );
  }
}

export class LegacyDataNotImported extends DomainError {
  readonly code = 'LEGACY_DATA_NOT_IMPORTED';
  readonly category = 'conflict';
  constructor(legacyPoolFqdn: string) {
    super(`R20 (policy): the data of ${legacyPoolFqdn} is not recorded as imported anywhere; there is no import to revert.`, {
      rule: 'R20',
      details: { legacyPoolFqdn },
    });
  }
}

export class WellKnownAddressMismatch extends DomainError {
  readonly code = 'WELL_KNOWN_ADDRESS_MISMATCH';
  readonly category = 'conflict';
  constructor(legacyPoolFqdn: string, sipAddress: string, wellKnownSipAddress: string) {
    super(`R15: ${legacyPoolFqdn} is reached through ${wellKnownSipAddress}, not ${sipAddress}.`, {
      rule: 'R15',
      field: 'sipAddress',
      details: { legacyPoolFqdn, sipAddress, wellKnownSipAddress },
    });
  }
}

export class MigrationNotFound extends DomainError {
  readonly code = 'MIGRATION_NOT_FOUND';
  readonly category = 'not_found';
  constructor(migrationId: string) {
    super(`No migration has the id ${migrationId}.`, { field: 'migrationId', details: { migrationId } });
  }
}

/** One precondition of a migration plan, as the plan lists it. */
export interface PreconditionDetails {
  readonly id: string;
  readonly rule: RuleId;
  readonly description: string;
  readonly holds: boolean;
  readonly reason: string | null;
}

export class MigrationPreconditionsFailed extends DomainError {
  readonly code = 'MIGRATION_PRECONDITIONS_FAILED';
  readonly category = 'conflict';
  constructor(legacyPoolFqdn: string, targetPoolFqdn: string, preconditions: readonly PreconditionDetails[]) {
    const failed = preconditions.filter((p) => !p.holds);
    super(
      `The migration of ${legacyPoolFqdn} to ${targetPoolFqdn} cannot be planned: ` +
        failed.map((p) => `${p.rule}: ${p.reason ?? p.description}`).join('; '),
      { rule: failed[0]?.rule ?? 'R16', details: { legacyPoolFqdn, targetPoolFqdn, preconditions: preconditions.map((p) => ({ ...p })) } },
    );
  }
}

export class MigrationStateInvalid extends DomainError {
  readonly code = 'MIGRATION_STATE_INVALID';
  readonly category = 'conflict';
  constructor(migrationId: string, action: string, status: string, requiredStatuses: readonly string[]) {
    super(`R20 (policy): cannot ${action} migration ${migrationId} while it is ${status}; it must be ${requiredStatuses.join(' or ')}.`, {
      rule: 'R20',
      details: { migrationId, action, status, requiredStatuses: [...requiredStatuses] },
    });
  }
}

/** A run meant to start at one step finds the migration at another (the step was run meanwhile, or one before it was not). */
export class MigrationStepOutOfOrder extends DomainError {
  readonly code = 'MIGRATION_STEP_OUT_OF_ORDER';
  readonly category = 'conflict';
  constructor(migrationId: string, fromStep: number, nextStep: number | null) {
    super(
      nextStep === null || nextStep > fromStep
        ? `R20 (policy): step ${fromStep} of migration ${migrationId} is already recorded; nothing was recorded again.`
        : `R20 (policy): migration ${migrationId} is at step ${nextStep}, not ${fromStep}: run the steps before it first.`,
      { rule: 'R20', field: 'fromStep', details: { migrationId, fromStep, nextStep } },
    );
  }
}

/** A step of a migration failed (or, in a preview, would fail): the class is named as its stable code. */
export class MigrationStepFailed extends DomainError {
  readonly code = 'MIGRATION_STEP_FAILED';
  readonly category = 'conflict';
  /** `dryRun`: the step would fail in a run (a `whatIf` preview); nothing was recorded. */
  constructor(migrationId: string, step: number, title: string, cause: { code: string; message: string; details: ErrorDetails }, dryRun?: 'dry run') {
    super(
      dryRun
        ? `R16: step ${step} (${title}) of migration ${migrationId} would fail: ${cause.message} Nothing was changed.`
        : `R16: step ${step} (${title}) of migration ${migrationId} failed and the migration is now Failed: ${cause.message} Roll it back with RollbackMigration.`,
      {
      rule: 'R16',
      details: { migrationId, step, title, cause: { code: cause.code, message: cause.message, details: cause.details }, ...(dryRun ? { dryRun: true } : {}) },
      },
    );
  }
}

/** A change made after a migration step, outside the migration, to something the migration changed. */
export interface RollbackConflictDetails {
  readonly [key: string]: JsonValue;
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly type: string;
  readonly entity: string;
  readonly actor: string | null;
  readonly command: string | null;
  readonly occurredAt: string | null;
}

export class RollbackConflict extends DomainError {
  readonly code = 'ROLLBACK_CONFLICT';
  readonly category = 'conflict';
  constructor(migrationId: string, conflicts: readonly RollbackConflictDetails[], refusal?: { code: string; message: string }) {
    super(
      refusal
        ? `R20 (policy): migration ${migrationId} cannot be rolled back further: ${refusal.message} Use force with a reason to roll back what can be.`
        : `R20 (policy): migration ${migrationId} cannot be rolled back: ${conflicts.length} later change(s) touched what it changed ` +
            `(${conflicts.slice(0, 3).map((c) => `${c.type} on ${c.entity} by ${c.actor ?? 'unknown'}`).join('; ')}${conflicts.length > 3 ? '; ...' : ''}). ` +
            `Use force with a reason to roll back what can be.`,
      { rule: 'R20', details: { migrationId, conflicts: conflicts.map((c) => ({ ...c })), ...(refusal ? { refusal: { ...refusal } } : {}) } },
    );
  }
}

export class ApprovalRequired extends DomainError {
  readonly code = 'APPROVAL_REQUIRED';
  readonly category = 'conflict';
  constructor(migrationId: string, subject: 'plan' | 'rollback') {
    super(
      `Policy (four eyes): the ${subject} of migration ${migrationId} waits for ApproveChange by another administrator before its first step.`,
      { details: { migrationId, subject } },
    );
  }
}

export class NothingToApprove extends DomainError {
  readonly code = 'NOTHING_TO_APPROVE';
  readonly category = 'conflict';
  constructor(migrationId: string) {
    super(`Migration ${migrationId} has no plan or rollback waiting for approval.`, { field: 'migrationId', details: { migrationId } });
  }
}

export class SelfApproval extends DomainError {
  readonly code = 'SELF_APPROVAL';
  readonly category = 'conflict';
  constructor(migrationId: string, actor: string) {
    super(`Policy (four eyes): ${actor} asked for this change to migration ${migrationId} and cannot also approve it; another administrator must.`, {
      details: { migrationId, actor },
    });
  }
}

export class MigrationNotReversible extends DomainError {
  readonly code = 'MIGRATION_NOT_REVERSIBLE';
  readonly category = 'conflict';
  constructor(migrationId: string, legacyPoolFqdn: string) {
    super(`R20 (policy): migration ${migrationId} cannot be rolled back: its legacy pool ${legacyPoolFqdn} has been decommissioned (DecommissionLegacyPool, a separate command after the migration): there is no legacy pool left to return to.`, {
      rule: 'R20',
      details: { migrationId, legacyPoolFqdn },
    });
  }
}

function describePoolKind(kind: PoolKind): string {
  return kind === 'persistentChat' ? 'Persistent Chat pool' : 'legacy Group Chat pool';
}
