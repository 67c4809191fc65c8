import { DomainError, MigrationPreconditionsFailed, type PreconditionDetails, type RuleId } from '../errors';
import type { Fqdn } from '../shared/fqdn';
import { type SipUri, sipDomainOf } from '../shared/sip-uri';
import type { TopologyCommand } from '../topology/commands';
import { decide } from '../topology/decide';
import type { TopologyEvent } from '../topology/events';
import { foldTopology } from '../topology/evolve';
import { type LegacyGroupChatVersion, type TopologyState, describeOwner, ownerOf, poolOf, wellKnownUserOf } from '../topology/state';

/** R17: what `Export-CsPersistentChatData -Level` exports. */
export const EXPORT_LEVELS = ['All', 'User', 'Category', 'RoomDirectory', 'Content'] as const;
export type ExportLevel = (typeof EXPORT_LEVELS)[number];

/** R18: names of migrated categories are limited to this many characters. */
export const MAX_CATEGORY_NAME = 256;
/** R18: how a nested category's name is joined to its parent's when flattened. */
export const CATEGORY_SEPARATOR = '_';

/** Plans the migration of one legacy Group Chat pool into one Persistent Chat pool (the seed's scenario). */
export interface MigratePool {
  readonly type: 'MigratePool';
  readonly legacyPoolFqdn: Fqdn;
  readonly targetPoolFqdn: Fqdn;
  readonly reason?: string;
  /** `-FileName` of the export; a default under `C:\GroupChatMigration\` otherwise. */
  readonly exportFileName?: string;
  readonly exportLevel?: ExportLevel;
  /** `-Scope`: limits the categories exported (R17). */
  readonly exportScope?: string;
  /** The legacy pool's category paths (`Engineering/Platform`), so the plan can list what flattening changes (R18). */
  readonly categories?: readonly string[];
  /** Display name of the legacy endpoint that takes over the well-known SIP URI. */
  readonly endpointDisplayName?: string;
  /** objectGUID of the endpoint contact step 5 creates (given by the caller: the domain draws no random numbers). */
  readonly endpointObjectGuid?: string;
}

/** A migration of the same legacy pool that has not finished one way or the other. */
export interface OtherMigration {
  readonly migrationId: string;
  readonly status: string;
}

/** The steps, in the seed's order. Decommissioning the legacy pool is a later, separate command. */
export const MIGRATION_STEPS = [
  { step: 1, key: 'stopLegacyPool', title: 'stop the legacy Group Chat pool' },
  { step: 2, key: 'exportLegacyData', title: 'export the legacy data' },
  { step: 3, key: 'importData', title: 'import the data into the Persistent Chat pool' },
  { step: 4, key: 'deleteWellKnownUser', title: 'delete the well-known user' },
  { step: 5, key: 'createLegacyEndpoint', title: 'create the legacy endpoint with the same SIP URI' },
  { step: 6, key: 'startTargetPool', title: 'start the Persistent Chat pool' },
  { step: 7, key: 'verifyContinuity', title: 'verify that the well-known SIP URI reaches the pool that holds the data' },
] as const;
export type MigrationStepKey = (typeof MIGRATION_STEPS)[number]['key'];
export const LAST_STEP = MIGRATION_STEPS.length;

export function stepInfo(step: number): (typeof MIGRATION_STEPS)[number] {
  const info = MIGRATION_STEPS[step - 1];
  if (!info) throw new RangeError(`no migration step ${step}`);
  return info;
}

export type Precondition = PreconditionDetails;

/** What will not be migrated or will change on the way, for the operator to handle by hand (R18, R19). */
export type ManualItem = {
  kind: 'files' | 'federation' | 'rootCategoryManagers' | 'flattenedCategory' | 'truncatedCategory' | 'categoriesUnknown';
  rule: RuleId;
  description: string;
  category: string | null;
  migratedName: string | null;
};

/** A value the runbook cannot know; it appears there as `<<NAME>>`. */
export type Placeholder = { name: string; description: string };

export type PlannedStep = {
  step: number;
  key: MigrationStepKey;
  title: string;
  /** The topology command the step applies through the decider; null for a step that records or checks only. */
  command: TopologyCommand | null;
  /** What the step will append to the topology, as decided against the simulated topology. */
  events: TopologyEvent[];
  /** Between stopping the legacy pool and starting the target, clients cannot connect (R16). */
  offlineWindow: boolean;
};

export type MigrationPlan = {
  migrationId: string;
  legacyPoolFqdn: Fqdn;
  legacyVersion: LegacyGroupChatVersion | null;
  targetPoolFqdn: Fqdn;
  wellKnownSipAddress: SipUri | null;
  /** The well-known user as it was when planned: its attributes are what a rollback restores. */
  wellKnownUserDisplayName: string | null;
  legacyComputers: Fqdn[];
  targetServers: Fqdn[];
  legacyDatabaseInstance: string | null;
  targetDatabaseInstance: string | null;
  export: { fileName: string; level: ExportLevel; scope: string | null };
  endpointDisplayName: string | null;
  /** objectGUID of the endpoint contact of step 5; absent in plans recorded before it was kept (their endpoint's DN is derived from its SIP address). */
  endpointObjectGuid?: string | null;
  reason: string | null;
  preconditions: Precondition[];
  steps: PlannedStep[];
  notMigrated: ManualItem[];
  placeholders: Placeholder[];
};

/**
 * Plans a migration against the current topology: checks every precondition, simulates each step
 * through the topology decider, and lists what will not be migrated. Refuses with every
 * precondition listed (MigrationPreconditionsFailed) when one does not hold. Pure: the caller
 * chooses `migrationId` (the migration's stream is named after it).
 */
export function planMigration(command: MigratePool, migrationId: string, state: TopologyState, other: OtherMigration | null): MigrationPlan {
  const legacyFound = poolOf(state, command.legacyPoolFqdn);
  const legacy = legacyFound?.kind === 'legacyGroupChat' ? legacyFound.pool : undefined;
  const targetFound = poolOf(state, command.targetPoolFqdn);
  const target = targetFound?.kind === 'persistentChat' ? targetFound.pool : undefined;
  const wellKnownSipAddress = legacy?.wellKnownSipAddress ?? null;
  const wellKnownUser = legacy ? wellKnownUserOf(state, legacy.fqdn) : undefined;

  const exportSettings = {
    fileName: text(command.exportFileName) ?? `C:\\GroupChatMigration\\${command.legacyPoolFqdn}-${migrationId.slice(0, 8)}.zip`,
    level: command.exportLevel ?? 'All',
    scope: text(command.exportScope),
  };
  const plan: MigrationPlan = {
    migrationId: migrationId,
    legacyPoolFqdn: command.legacyPoolFqdn,
    legacyVersion: legacy?.version ?? null,
    targetPoolFqdn: command.targetPoolFqdn,
    wellKnownSipAddress,
    wellKnownUserDisplayName: wellKnownUser?.displayName ?? null,
    legacyComputers: legacy ? unique([legacy.services.lookup, legacy.services.channel, legacy.services.web, legacy.services.compliance]) : [],
    targetServers: target ? [...target.servers] : [],
    legacyDatabaseInstance: legacy?.databaseInstance ?? null,
    targetDatabaseInstance: target?.databaseInstance ?? null,
    export: exportSettings,
    endpointDisplayName: text(command.endpointDisplayName),
    endpointObjectGuid: command.endpointObjectGuid ?? null,
    reason: text(command.reason),
    preconditions: [],
    steps: [],
    notMigrated: [],
    placeholders: [],
  };

  const preconditions: Precondition[] = [];
  const check = (id: string, rule: RuleId, description: string, failure: string | null): void => {
    preconditions.push({ id, rule, description, holds: failure === null, reason: failure });
  };

  check(
    'legacyPoolRunning',
    'R15',
    `${command.legacyPoolFqdn} is a legacy Group Chat pool of this deployment and is Started`,
    !legacyFound
      ? `no pool ${command.legacyPoolFqdn} in this deployment`
      : !legacy
        ? `${command.legacyPoolFqdn} is a Persistent Chat pool, not a legacy Group Chat pool`
        : legacy.status !== 'Started'
          ? `${legacy.fqdn} is ${legacy.status}`
          : null,
  );
  check(
    'targetPoolInstalled',
    'R14',
    `${command.targetPoolFqdn} is an installed Persistent Chat pool that is not yet serving (Installed or Stopped)`,
    !targetFound
      ? `no pool ${command.targetPoolFqdn} in this deployment`
      : !target
        ? `${command.targetPoolFqdn} is a legacy Group Chat pool, not a Persistent Chat pool`
        : target.status === 'Started'
          ? `${target.fqdn} is already Started and serving clients`
          : null,
  );
  const dataElsewhere = legacy?.dataMigratedTo ?? null;
  const otherSource = target ? [...state.legacyPools.values()].find((pool) => pool.dataMigratedTo === target.fqdn) : undefined;
  check(
    'oneIntoOne',
    'R18',
    'one legacy pool migrates into one target pool: neither pool has taken part in another migration',
    dataElsewhere !== null
      ? `the data of ${command.legacyPoolFqdn} was already imported into ${dataElsewhere}`
      : otherSource
        ? `${command.targetPoolFqdn} already holds the data of ${otherSource.fqdn}`
        : null,
  );
  // Microsoft's prerequisite is one Active Directory forest, which is what a deployment is (both
  // pools were found in it). The well-known URI keeps its own SIP domain: the endpoint of step 5 may
  // be in any SIP domain of the deployment (R1), whatever the default was when the target pool was
  // installed; it need not be the domain of the target pool's default contact.
  const legacyDomain = wellKnownSipAddress ? sipDomainOf(wellKnownSipAddress) : null;
  check(
    'sameForest',
    'R1',
    'both pools are in this deployment (one Active Directory forest) and the well-known SIP URI is in a SIP domain of the deployment',
    legacyDomain === null || !target
      ? 'unknown until both pools exist'
      : !state.sipDomains.has(legacyDomain)
        ? `${legacyDomain}, the SIP domain of the well-known SIP URI, is not a SIP domain of this deployment`
        : null,
  );
  const owner = wellKnownSipAddress ? ownerOf(state, wellKnownSipAddress) : undefined;
  check(
    'wellKnownUserRoutesToLegacyPool',
    'R15',
    `the well-known user ${wellKnownSipAddress ?? '(unknown)'} exists and routes legacy clients to ${command.legacyPoolFqdn}`,
    wellKnownSipAddress === null ? 'unknown until the legacy pool exists' : wellKnownUser ? null : `no well-known user routes ${wellKnownSipAddress} to ${command.legacyPoolFqdn}`,
  );
  check(
    'sipAddressOwnedByWellKnownUserOnly',
    'R3',
    `nothing but the well-known user owns ${wellKnownSipAddress ?? 'the well-known SIP URI'}`,
    owner && !(owner.kind === 'principal' && owner.principal.kind === 'wellKnownUser') ? `${wellKnownSipAddress} is owned by ${describeOwner(owner)}` : null,
  );
  check(
    'noOtherMigration',
    'R20',
    `no other migration of ${command.legacyPoolFqdn} is planned or running`,
    other ? `migration ${other.migrationId} of ${command.legacyPoolFqdn} is ${other.status}; finish or roll it back first` : null,
  );

  // Each step through the same decider as a manual command, in order, on a simulated topology.
  let simulated = state;
  let refusal: string | null = null;
  for (const info of MIGRATION_STEPS) {
    const stepCommandOf = stepCommand(plan, info.step);
    let events: TopologyEvent[] = [];
    if (stepCommandOf && refusal === null && legacy && target) {
      try {
        events = decide(stepCommandOf, simulated).events;
        simulated = foldTopology(events, simulated);
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        refusal = `step ${info.step} (${info.title}) would be refused: ${error.message}`;
      }
    }
    plan.steps.push({ step: info.step, key: info.key, title: info.title, command: stepCommandOf, events, offlineWindow: info.step >= 1 && info.step < 6 });
  }
  check('stepsAccepted', 'R16', 'every step passes the topology rules when simulated in order', legacy && target ? refusal : 'the pools must exist first');

  plan.preconditions = preconditions;
  if (preconditions.some((p) => !p.holds)) throw new MigrationPreconditionsFailed(command.legacyPoolFqdn, command.targetPoolFqdn, preconditions);

  plan.notMigrated = manualItems(command, legacy?.services.web ?? null);
  plan.placeholders = placeholders(plan);
  return plan;
}

/** The topology command a step applies, or null for the steps that record (2) or check (7) only. */
export function stepCommand(plan: MigrationPlan, step: number): TopologyCommand | null {
  const wellKnown = plan.wellKnownSipAddress;
  switch (stepInfo(step).key) {
    case 'stopLegacyPool':
      return { type: 'StopPool', fqdn: plan.legacyPoolFqdn };
    case 'exportLegacyData':
      return null;
    case 'importData':
      return { type: 'ImportLegacyPoolData', legacyPoolFqdn: plan.legacyPoolFqdn, targetPoolFqdn: plan.targetPoolFqdn, fileName: plan.export.fileName };
    case 'deleteWellKnownUser':
      return wellKnown
        ? {
            type: 'DeleteWellKnownUser',
            sipAddress: wellKnown,
            legacyPoolFqdn: plan.legacyPoolFqdn,
            reason: `migration ${plan.migrationId}: ${wellKnown} moves to a Persistent Chat endpoint on ${plan.targetPoolFqdn}`,
          }
        : null;
    case 'createLegacyEndpoint':
      return wellKnown
        ? {
            type: 'CreateEndpoint',
            sipAddress: wellKnown,
            poolFqdn: plan.targetPoolFqdn,
            ...(plan.endpointDisplayName ? { displayName: plan.endpointDisplayName } : {}),
            ...(plan.endpointObjectGuid ? { objectGuid: plan.endpointObjectGuid } : {}),
          }
        : null;
    case 'startTargetPool':
      return { type: 'StartPool', fqdn: plan.targetPoolFqdn };
    case 'verifyContinuity':
      return null;
  }
}

/** R18: a nested category's migrated name, `Parent_Child`, and whether the 256-character limit cuts it. */
export function flattenedCategoryName(path: string): { name: string; truncated: boolean } {
  const parts = path
    .split('/')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const full = parts.join(CATEGORY_SEPARATOR);
  return full.length > MAX_CATEGORY_NAME ? { name: full.slice(0, MAX_CATEGORY_NAME), truncated: true } : { name: full, truncated: false };
}

function manualItems(command: MigratePool, webServer: Fqdn | null): ManualItem[] {
  const items: ManualItem[] = [
    {
      kind: 'files',
      rule: 'R19',
      description:
        `Files posted in rooms are not migrated: copy the legacy file store${webServer ? ` (served by ${webServer})` : ''} to the Persistent Chat file store by hand.`,
      category: null,
      migratedName: null,
    },
    {
      kind: 'federation',
      rule: 'R19',
      description: 'Federated users lose access to migrated rooms; grant it again on the Persistent Chat pool if they need it.',
      category: null,
      migratedName: null,
    },
    {
      kind: 'rootCategoryManagers',
      rule: 'R18',
      description: 'Managers of the root category become managers of every migrated room; review room managers after the import.',
      category: null,
      migratedName: null,
    },
  ];
  if (command.categories === undefined) {
    items.push({
      kind: 'categoriesUnknown',
      rule: 'R18',
      description: 'The legacy categories were not given: give them with the plan (`topo migrate plan --categories-file FILE`, or the body field `categories` of MigratePool) to list the names that flattening nested categories would change or cut.',
      category: null,
      migratedName: null,
    });
    return items;
  }
  for (const path of unique(command.categories)) {
    if (!path.includes('/')) continue;
    const { name, truncated } = flattenedCategoryName(path);
    items.push({
      kind: truncated ? 'truncatedCategory' : 'flattenedCategory',
      rule: 'R18',
      description: truncated
        ? `The nested category '${path}' is flattened and its name cut to ${MAX_CATEGORY_NAME} characters.`
        : `The nested category '${path}' is flattened into '${name}'.`,
      category: path,
      migratedName: name,
    });
  }
  return items;
}

function placeholders(plan: MigrationPlan): Placeholder[] {
  const result: Placeholder[] = [];
  if (plan.legacyDatabaseInstance === null) {
    result.push({ name: 'LEGACY-SQL-INSTANCE', description: `the SQL Server instance of ${plan.legacyPoolFqdn} is not recorded (databaseInstance)` });
  }
  if (plan.targetDatabaseInstance === null) {
    result.push({ name: 'TARGET-SQL-INSTANCE', description: `the SQL Server instance of ${plan.targetPoolFqdn} is not recorded (databaseInstance)` });
  }
  result.push(
    { name: 'WELL-KNOWN-USER-AD-IDENTITY', description: 'the Active Directory identity of the well-known user, to enable it again on rollback' },
    { name: 'REGISTRAR-POOL', description: 'the registrar pool that homed the well-known user, to enable it again on rollback' },
  );
  return result;
}

function text(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function unique<T>(values: readonly (T | null)[]): T[] {
  return [...new Set(values.filter((value): value is T => value !== null))];
}
