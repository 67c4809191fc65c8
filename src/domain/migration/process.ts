import { ApprovalRequired, MigrationStateInvalid, MigrationStepOutOfOrder, NothingToApprove, type RollbackConflictDetails, SelfApproval, assertNever } from '../errors';
import type { Fqdn } from '../shared/fqdn';
import type { SipUri } from '../shared/sip-uri';
import type { TopologyCommand } from '../topology/commands';
import type { TopologyEvent } from '../topology/events';
import { type TopologyState, describeOwner, ownerOf } from '../topology/state';
import { LAST_STEP, MIGRATION_STEPS, type MigratePool, type MigrationPlan, type MigrationStepKey, stepInfo } from './plan';


/** A topology event a step appended, with where it landed, as the migration's record keeps it. */
export type StepTopologyEvent = TopologyEvent & { revision: number; position: number };

/** R16: whether the well-known SIP URI reaches a running pool that holds the data. */
export type Continuity = {
  /** Before step 1, the offline window (steps 1 to 5 done, not 6), or after step 6. */
  window: 'before' | 'offline' | 'after';
  holds: boolean;
  owner: string | null;
  routesTo: Fqdn | null;
  message: string;
};

export type MigrationEvent =
  | { type: 'MigrationPlanned'; data: { plan: MigrationPlan; deployment: string; approvalRequired?: boolean } }
  | { type: 'MigrationApproved'; data: { migrationId: string; subject: ApprovalSubject; reason: string | null } }
  | { type: 'MigrationRejected'; data: { migrationId: string; subject: ApprovalSubject; reason: string | null } }
  | { type: 'MigrationRollbackRequested'; data: { migrationId: string; reason: string; force: boolean } }
  | {
      type: 'MigrationStepCompleted';
      data: { migrationId: string; step: number; key: MigrationStepKey; events: StepTopologyEvent[]; continuity: Continuity; note: string | null };
    }
  | { type: 'MigrationStepFailed'; data: { migrationId: string; step: number; key: MigrationStepKey; reason: string; error: { code: string; message: string } | null } }
  | { type: 'MigrationCompleted'; data: { migrationId: string; continuity: Continuity } }
  | { type: 'MigrationRollbackStarted'; data: { migrationId: string; reason: string; force: boolean; conflicts: RollbackConflictDetails[] } }
  | { type: 'MigrationStepCompensated'; data: { migrationId: string; step: number; key: MigrationStepKey; command: string | null; events: StepTopologyEvent[] } }
  | { type: 'MigrationStepNotCompensated'; data: { migrationId: string; step: number; key: MigrationStepKey; command: string; error: { code: string; message: string } } }
  | { type: 'MigrationRolledBack'; data: { migrationId: string; compensated: number[]; notCompensated: number[]; continuity: Continuity } };

export type MigrationEventType = MigrationEvent['type'];
export const MIGRATION_EVENT_TYPES: readonly MigrationEventType[] = [
  'MigrationPlanned',
  'MigrationApproved',
  'MigrationRejected',
  'MigrationRollbackRequested',
  'MigrationStepCompleted',
  'MigrationStepFailed',
  'MigrationCompleted',
  'MigrationRollbackStarted',
  'MigrationStepCompensated',
  'MigrationStepNotCompensated',
  'MigrationRolledBack',
];

export const MIGRATION_STATUSES = ['Planned', 'Running', 'Completed', 'Failed', 'RollingBack', 'RolledBack', 'Rejected'] as const;
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];
/** What a second administrator approves under the four-eyes policy. */
export type ApprovalSubject = 'plan' | 'rollback';
export type Approval = 'notRequired' | 'pending' | 'approved';
/** Statuses in which the migration still holds its legacy pool: no other may be planned (R20). */
export const OPEN_STATUSES: readonly MigrationStatus[] = ['Planned', 'Running', 'Failed', 'RollingBack'];

export interface MigrationState {
  readonly deployment: string | null;
  readonly plan: MigrationPlan | null;
  readonly status: MigrationStatus;
  /** Completed steps in order, with the topology events each appended. */
  readonly completed: ReadonlyMap<number, readonly StepTopologyEvent[]>;
  readonly failedStep: number | null;
  readonly rollback: { readonly reason: string; readonly force: boolean } | null;
  /** Steps whose compensation ran (or needed none) and steps a forced rollback could not undo. */
  readonly compensated: ReadonlySet<number>;
  readonly notCompensated: ReadonlySet<number>;
  /** Four eyes: whether the plan may run. */
  readonly planApproval: Approval;
  /** Four eyes: a rollback asked for and waiting for approval (or approved and not yet run). */
  readonly rollbackRequest: { readonly reason: string; readonly force: boolean; readonly approval: Approval } | null;
}

export function initialMigrationState(): MigrationState {
  return {
    deployment: null,
    plan: null,
    status: 'Planned',
    completed: new Map(),
    failedStep: null,
    rollback: null,
    compensated: new Set(),
    notCompensated: new Set(),
    planApproval: 'notRequired',
    rollbackRequest: null,
  };
}

export function evolveMigration(state: MigrationState, event: MigrationEvent): MigrationState {
  switch (event.type) {
    case 'MigrationPlanned':
      return {
        ...initialMigrationState(),
        deployment: event.data.deployment,
        plan: event.data.plan,
        planApproval: event.data.approvalRequired === true ? 'pending' : 'notRequired',
      };
    case 'MigrationApproved':
      return event.data.subject === 'plan'
        ? { ...state, planApproval: 'approved' }
        : { ...state, rollbackRequest: state.rollbackRequest ? { ...state.rollbackRequest, approval: 'approved' } : null };
    case 'MigrationRejected':
      return event.data.subject === 'plan' ? { ...state, status: 'Rejected' } : { ...state, rollbackRequest: null };
    case 'MigrationRollbackRequested':
      return { ...state, rollbackRequest: { reason: event.data.reason, force: event.data.force, approval: 'pending' } };
    case 'MigrationStepCompleted': {
      const completed = new Map(state.completed);
      completed.set(event.data.step, event.data.events);
      // A step found applied after the migration failed (a crash between a step and its record) is recorded without reviving it.
      return { ...state, status: state.status === 'Planned' ? 'Running' : state.status, completed };
    }
    case 'MigrationStepFailed':
      return { ...state, status: 'Failed', failedStep: event.data.step };
    case 'MigrationCompleted':
      return { ...state, status: 'Completed' };
    case 'MigrationRollbackStarted':
      return { ...state, status: 'RollingBack', rollback: { reason: event.data.reason, force: event.data.force } };
    case 'MigrationStepCompensated':
      return { ...state, compensated: new Set([...state.compensated, event.data.step]) };
    case 'MigrationStepNotCompensated':
      return { ...state, notCompensated: new Set([...state.notCompensated, event.data.step]) };
    case 'MigrationRolledBack':
      return { ...state, status: 'RolledBack' };
    default:
      return assertNever(event);
  }
}

export function foldMigration(events: Iterable<MigrationEvent>): MigrationState {
  let state = initialMigrationState();
  for (const event of events) state = evolveMigration(state, event);
  return state;
}

/** The first step not yet completed, or null when all are. */
export function nextStep(state: MigrationState): number | null {
  for (const { step } of MIGRATION_STEPS) if (!state.completed.has(step)) return step;
  return null;
}

/** Refuses unless the migration may run its next step. */
export function requireRunnable(migrationId: string, state: MigrationState, action = 'run'): MigrationPlan {
  // R20: steps run only on a planned migration that is under way and not waiting for its rollback.
  if (!state.plan) throw new MigrationStateInvalid(migrationId, action, 'unknown', ['Planned', 'Running']);
  // R20: a migration finished, failed or rolled back runs no more steps.
  if (state.status !== 'Planned' && state.status !== 'Running') throw new MigrationStateInvalid(migrationId, action, state.status, ['Planned', 'Running']);
  if (state.planApproval === 'pending') throw new ApprovalRequired(migrationId, 'plan');
  // R20: a migration whose rollback is asked for waits for that decision.
  if (state.rollbackRequest !== null) throw new MigrationStateInvalid(migrationId, action, 'waiting for its rollback', ['Planned', 'Running']);
  return state.plan;
}

/** Four eyes: what an approval would approve, refused when nothing waits or when the approver asked for it. */
export function approvalSubject(migrationId: string, state: MigrationState, approver: string, requester: string | null): ApprovalSubject {
  const subject: ApprovalSubject | null =
    state.status === 'Planned' && state.planApproval === 'pending' ? 'plan' : state.rollbackRequest?.approval === 'pending' ? 'rollback' : null;
  if (subject === null) throw new NothingToApprove(migrationId);
  if (requester !== null && requester === approver) throw new SelfApproval(migrationId, approver);
  return subject;
}

/**
 * R16: outside the offline window the well-known SIP URI must be owned by exactly one object that
 * routes to a running pool holding the data. `completedSteps` tells which window the topology is in.
 */
export function continuityOf(topology: TopologyState, plan: MigrationPlan, completedSteps: ReadonlySet<number>): Continuity {
  const window = completedSteps.has(6) ? 'after' : completedSteps.has(1) ? 'offline' : 'before';
  const uri = plan.wellKnownSipAddress;
  const owner = uri ? ownerOf(topology, uri) : undefined;
  let routesTo: Fqdn | null = null;
  let running = false;
  let holdsData = false;
  if (owner?.kind === 'principal' && owner.principal.kind === 'wellKnownUser' && owner.principal.legacyPoolFqdn) {
    const legacy = topology.legacyPools.get(owner.principal.legacyPoolFqdn);
    routesTo = owner.principal.legacyPoolFqdn;
    running = legacy?.status === 'Started';
    holdsData = legacy !== undefined && legacy.dataMigratedTo === null;
  } else if (owner?.kind === 'endpoint') {
    const pool = topology.persistentChatPools.get(owner.endpoint.poolFqdn);
    routesTo = owner.endpoint.poolFqdn;
    running = pool?.status === 'Started';
    holdsData = topology.legacyPools.get(plan.legacyPoolFqdn)?.dataMigratedTo === owner.endpoint.poolFqdn;
  }
  const holds = running && holdsData;
  const who = owner ? describeOwner(owner) : null;
  const message = !owner
    ? `${uri ?? 'the well-known SIP URI'} is owned by nothing: legacy clients cannot connect`
    : routesTo === null
      ? `${uri} is owned by ${who}, which routes to no chat pool`
      : holds
        ? `${uri} reaches ${routesTo}, which is Started and holds the data`
        : `${uri} reaches ${routesTo}, which ${running ? 'is Started' : 'is not Started'} and ${holdsData ? 'holds' : 'does not hold'} the data`;
  return { window, holds, owner: who, routesTo, message: window === 'offline' && !holds ? `offline window: ${message}` : message };
}

/**
 * The compensation of a completed step, derived from what the step recorded (its audit trail):
 * the inverse of the event it appended. Null when the step changed nothing (export, verify).
 */
export function compensationOf(events: readonly StepTopologyEvent[], reason: string): TopologyCommand | null {
  const [event] = events;
  if (!event) return null;
  switch (event.type) {
    case 'PoolStopped':
      return { type: 'StartPool', fqdn: event.data.fqdn };
    case 'LegacyPoolDataImported':
      return { type: 'RevertLegacyPoolDataImport', legacyPoolFqdn: event.data.legacyPoolFqdn, reason };
    case 'SipPrincipalDeleted':
      return event.data.legacyPoolFqdn
        ? { type: 'RestoreWellKnownUser', sipAddress: event.data.sipAddress, legacyPoolFqdn: event.data.legacyPoolFqdn, displayName: event.data.displayName }
        : null;
    case 'PersistentChatEndpointCreated':
      return { type: 'RemoveEndpoint', identity: event.data.sipAddress, reason };
    case 'PoolStarted':
      return event.data.previousStatus === 'Installed' || event.data.previousStatus === 'Stopped'
        ? { type: 'RevertPoolStart', fqdn: event.data.fqdn, status: event.data.previousStatus }
        : null;
    default:
      return null;
  }
}

/** Completed steps still to compensate, last first (R20: compensations run in reverse). */
export function pendingCompensations(state: MigrationState): number[] {
  return [...state.completed.keys()]
    .filter((step) => !state.compensated.has(step) && !state.notCompensated.has(step))
    .sort((a, b) => b - a);
}

/** What the migration changes, as entity keys (`pool:<fqdn>`, and a SIP URI as itself: `sip:<user>@<domain>`). */
export function migrationEntities(plan: MigrationPlan): Set<string> {
  const entities = new Set<string>([`pool:${plan.legacyPoolFqdn}`, `pool:${plan.targetPoolFqdn}`]);
  if (plan.wellKnownSipAddress) entities.add(plan.wellKnownSipAddress);
  return entities;
}

/** Every entity a topology event touches, as entity keys. */
export function touchedEntities(event: TopologyEvent): string[] {
  const pool = (fqdn: Fqdn): string => `pool:${fqdn}`;
  // A SIP URI already carries its scheme: it is its own key.
  const sip = (uri: SipUri): string => uri;
  switch (event.type) {
    case 'SipDomainRegistered':
    case 'DefaultSipDomainChanged':
    case 'SipDomainRemoved':
      return [`domain:${event.data.domain}`];
    case 'SipPrincipalRegistered':
    case 'SipPrincipalDeleted':
      return event.data.legacyPoolFqdn ? [sip(event.data.sipAddress), pool(event.data.legacyPoolFqdn)] : [sip(event.data.sipAddress)];
    case 'LegacyGroupChatPoolDefined':
      return [pool(event.data.fqdn), sip(event.data.wellKnownSipAddress)];
    case 'LegacyGroupChatPoolDecommissioned':
      return [pool(event.data.fqdn)];
    case 'PersistentChatPoolInstalled':
    case 'PersistentChatPoolRemoved':
      return [pool(event.data.fqdn), sip(event.data.defaultContactSipAddress)];
    case 'PersistentChatServerAdded':
    case 'PersistentChatServerRemoved':
    case 'PersistentChatActiveServersChanged':
    case 'PersistentChatStateChanged':
      return [pool(event.data.poolFqdn)];
    case 'PoolStarted':
    case 'PoolStopped':
    case 'PoolStartReverted':
      return [pool(event.data.fqdn)];
    case 'PersistentChatEndpointCreated':
    case 'PersistentChatEndpointRemoved':
      return [sip(event.data.sipAddress), pool(event.data.poolFqdn)];
    case 'LegacyPoolDataImported':
    case 'LegacyPoolDataImportReverted':
      return [pool(event.data.legacyPoolFqdn), pool(event.data.targetPoolFqdn)];
    default:
      return assertNever(event);
  }
}

/**
 * An entity key as the audit trail names entities (`kind:id`, the kinds of `GET /api/audit`'s
 * `entity=` filter): the legacy pool `legacyPool:`, the target `persistentChatPool:`, a SIP URI
 * `endpoint:` when the event is about an endpoint, else `principal:`.
 */
function auditEntityKey(key: string, plan: MigrationPlan, event: TopologyEvent): string {
  if (key === `pool:${plan.legacyPoolFqdn}`) return `legacyPool:${plan.legacyPoolFqdn}`;
  if (key === `pool:${plan.targetPoolFqdn}`) return `persistentChatPool:${plan.targetPoolFqdn}`;
  if (key.startsWith('sip:')) return `${event.type.startsWith('PersistentChatEndpoint') ? 'endpoint' : 'principal'}:${key}`;
  return key;
}

/** A topology event appended after the migration began, with who appended it and for which migration. */
export interface LaterTopologyEvent {
  readonly event: TopologyEvent;
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
  readonly migrationId: string | null;
  readonly actor: string | null;
  readonly command: string | null;
  readonly occurredAt: string | null;
}

/**
 * R20: the changes made outside this migration, after its first step, to what it changed (its two
 * pools and the well-known SIP URI). Each would make a compensation undo or clash with someone's work.
 */
export function rollbackConflicts(migrationId: string, plan: MigrationPlan, later: readonly LaterTopologyEvent[]): RollbackConflictDetails[] {
  const entities = migrationEntities(plan);
  const conflicts: RollbackConflictDetails[] = [];
  for (const entry of later) {
    if (entry.migrationId === migrationId) continue;
    const touched = touchedEntities(entry.event).find((entity) => entities.has(entity));
    if (touched === undefined) continue;
    conflicts.push({
      streamId: entry.streamId,
      revision: entry.revision,
      position: entry.position,
      type: entry.event.type,
      entity: auditEntityKey(touched, plan, entry.event),
      actor: entry.actor,
      command: entry.command,
      occurredAt: entry.occurredAt,
    });
  }
  return conflicts;
}

/** The revision of the first topology event this migration appended, or null before its first step. */
export function firstTopologyRevision(state: MigrationState): number | null {
  let first: number | null = null;
  for (const events of state.completed.values()) {
    for (const event of events) if (first === null || event.revision < first) first = event.revision;
  }
  return first;
}

export { LAST_STEP, stepInfo };

/** Runs the next step(s): `steps` of them, or all that remain. */
export interface RunMigration {
  readonly type: 'RunMigration';
  readonly migrationId: string;
  readonly steps?: number;
  /**
   * The step the caller means to run first (`Export-CsPersistentChatData` records step 2): refused
   * when the migration's next step is another, so a line never records a step it did not run.
   */
  readonly fromStep?: number;
}

/** Refuses a run that expects `fromStep` to be next when the migration is at another step. */
export function requireNextStep(migrationId: string, state: MigrationState, fromStep: number | undefined): void {
  if (fromStep === undefined) return;
  const next = nextStep(state);
  // R20: steps run in order, so their compensations can run in reverse.
  if (next !== fromStep) throw new MigrationStepOutOfOrder(migrationId, fromStep, next);
}

/** An operator reports that the next step failed outside the product (an export that did not finish, ...). */
export interface FailMigrationStep {
  readonly type: 'FailMigrationStep';
  readonly migrationId: string;
  readonly reason: string;
  /** The step that failed; must be the next one when given. */
  readonly step?: number;
}

/** Four eyes: a second administrator approves (or rejects) a migration's plan or its rollback. */
export interface ApproveChange {
  readonly type: 'ApproveChange';
  readonly migrationId: string;
  readonly decision: 'approve' | 'reject';
  readonly reason?: string;
}

/** Undoes the completed steps with compensating events, last first (R20). */
export interface RollbackMigration {
  readonly type: 'RollbackMigration';
  readonly migrationId: string;
  readonly reason: string;
  /** Roll back what can be despite conflicts, and record what could not. */
  readonly force?: boolean;
}

export type MigrationProcessCommand = RunMigration | FailMigrationStep | RollbackMigration | ApproveChange;

/** What a completed step moved, recorded with it (R17–R19): the export and import say what went and what did not. */
export function stepNote(plan: MigrationPlan, step: number): string | null {
  const dropped = plan.notMigrated.filter((item) => item.kind !== 'categoriesUnknown').map((item) => item.description);
  switch (stepInfo(step).key) {
    case 'exportLegacyData':
      return `exported level ${plan.export.level}${plan.export.scope ? ` (scope ${plan.export.scope})` : ''} from ${plan.legacyDatabaseInstance ?? 'the legacy database'} to ${plan.export.fileName}`;
    case 'importData':
      return `imported ${plan.export.fileName} into ${plan.targetPoolFqdn}; not migrated or changed: ${dropped.join(' ')}`;
    default:
      return null;
  }
}

/** Every command on migrations, as the API accepts them. */
export type MigrationCommand = MigratePool | MigrationProcessCommand;
export type MigrationCommandType = MigrationCommand['type'];
