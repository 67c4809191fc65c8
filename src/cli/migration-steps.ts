/**
 * `Export-CsPersistentChatData` and `Import-CsPersistentChatData` as the record of steps 2 and 3 of
 * the open migration of the pool whose database instance they name: which migration that is, and
 * whether the line agrees with its plan. The product moves no data; it records that the step ran.
 */
import type { JsonObject, JsonValue } from '../event-store/event-store';
import { ApiClient, ApiError } from './api-client';
import { CmdletError } from './cmdlet-parser';

/**
 * What a data cmdlet line is: the record of a migration step (a body for `RunMigration`), or a line
 * that changes no topology and is recorded as nothing, said so in `note` (a backup of a Persistent
 * Chat pool's own database, as the guide asks before the import).
 */
export type DataLine = { readonly body: JsonObject; readonly summary: string } | { readonly body: null; readonly note: string };

/** The migrations an Export-/Import-CsPersistentChatData line may be the record of. */
type MigrationView = {
  migrationId: string;
  status: string;
  nextStep: number | null;
  legacyPoolFqdn: string;
  targetPoolFqdn: string;
  plan: { legacyDatabaseInstance: string | null; targetDatabaseInstance: string | null; export: { fileName: string; level: string; scope: string | null } };
};

type PoolsWithDatabases = {
  legacyPools?: Array<{ fqdn: string; databaseInstance: string | null }>;
  persistentChatPools?: Array<{ fqdn: string; databaseInstance: string | null }>;
};

/**
 * Refuses a -DBInstance that is a guide's placeholder ("<backend-FQDN\\instance-name>"), naming the
 * instances to type in its place: the legacy pools' for an export (step 2), the Persistent Chat pools'
 * for an import (step 3). Answers the topology it read.
 */
export async function requireDbInstance(
  cmdlet: string,
  step: 2 | 3,
  dbInstance: string,
  client: ApiClient,
  deployment: string | undefined,
  minPosition: number | undefined,
): Promise<PoolsWithDatabases> {
  const topology = (await client.query('/api/topology', { deployment, minPosition })) as PoolsWithDatabases;
  if (!/<[^>]*>/.test(dbInstance)) return topology;
  const side = step === 2 ? 'legacy Group Chat pool' : 'Persistent Chat pool';
  const known = (step === 2 ? topology.legacyPools ?? [] : topology.persistentChatPools ?? []).filter((p) => p.databaseInstance !== null);
  throw new CmdletError(
    'INVALID_ARGUMENT',
    `${cmdlet} : -DBInstance '${dbInstance}' is the page's placeholder, not a SQL Server instance: type the instance (computer FQDN\\instance) of the ` +
      `${side}'s database in its place` +
      (known.length > 0
        ? `, one of: ${known.map((p) => `-DBInstance "${p.databaseInstance}" (${p.fqdn})`).join(', ')}.`
        : `; no ${side} of this deployment has its databaseInstance recorded.`) +
      ' Nothing was recorded.',
    `CannotConvertArgument,${cmdlet}`,
    { parameter: 'DBInstance', candidates: known.map((p) => p.databaseInstance!) },
  );
}

const sameText = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();
const scopeList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
    .sort();

/**
 * The step of the open migration a data cmdlet line records: step 2 (`Export-CsPersistentChatData`,
 * the legacy pool's database instance) or step 3 (`Import-CsPersistentChatData`, the target pool's).
 * The line must agree with the plan (file, level, scope); the step must be the migration's next one.
 */
export async function migrationStepOf(
  cmdlet: string,
  step: 2 | 3,
  line: { dbInstance: string; fileName?: string | undefined; level?: string | undefined; scope?: string[] | undefined },
  client: ApiClient,
  deployment: string | undefined,
  minPosition: number | undefined,
): Promise<DataLine> {
  const side = step === 2 ? 'legacy Group Chat pool' : 'Persistent Chat pool';
  const query = { deployment, minPosition };
  const topology = await requireDbInstance(cmdlet, step, line.dbInstance, client, deployment, minPosition);
  const sides = step === 2 ? topology.legacyPools ?? [] : topology.persistentChatPools ?? [];
  const list = (await client.query('/api/migrations', query)) as { migrations?: Array<{ migrationId: string; status: string }> };
  const open = (list.migrations ?? []).filter((m) => ['Planned', 'Running', 'Failed'].includes(m.status));
  const details = await Promise.all(open.map(async (m) => (await client.query(`/api/migrations/${encodeURIComponent(m.migrationId)}`, { minPosition })) as unknown as MigrationView));
  const instanceOf = (m: MigrationView): string | null => (step === 2 ? m.plan.legacyDatabaseInstance : m.plan.targetDatabaseInstance);
  const matching = details.filter((m) => {
    const instance = instanceOf(m);
    return instance !== null && sameText(instance, line.dbInstance);
  });
  const refuse = (code: string, message: string, details: Record<string, JsonValue> = {}): never => {
    throw new ApiError(409, code, `${cmdlet} -DBInstance '${line.dbInstance}': ${message}`, { parameter: 'DBInstance', step, ...details });
  };
  if (step === 2 && !matching.some((m) => m.nextStep === 2)) {
    // An export of a Persistent Chat pool's own database is a backup (the guide backs up the target's
    // database before the import): unless it is the export of a migration's legacy database, named by
    // the plan's file, it changes no topology and is recorded as nothing.
    const backups = (topology.persistentChatPools ?? []).filter((p) => p.databaseInstance !== null && sameText(p.databaseInstance, line.dbInstance));
    const theExport = matching.some((m) => line.fileName === undefined || sameText(line.fileName, m.plan.export.fileName));
    // A SQL Server instance may hold both pools' databases: then it is a backup only beside a migration at its import.
    const legacyToo = (topology.legacyPools ?? []).some((p) => p.databaseInstance !== null && sameText(p.databaseInstance, line.dbInstance));
    if (backups.length > 0 && (!legacyToo || (matching.length > 0 && !theExport))) {
      const before = details.filter((m) => m.nextStep === 3 && backups.some((p) => sameText(p.fqdn, m.targetPoolFqdn)));
      return {
        body: null,
        note:
          `a backup of the database of Persistent Chat pool ${backups.map((p) => p.fqdn).join(', ')}` +
          (before.length > 0 ? `, the guide's backup before the import of migration ${before.map((m) => m.migrationId).join(', ')}` : '') +
          '. A backup changes no topology: nothing is recorded.',
      };
    }
  }
  if (matching.length === 0) {
    const pools = sides.filter((p) => p.databaseInstance !== null && sameText(p.databaseInstance, line.dbInstance));
    const unrecorded = details.filter((m) => instanceOf(m) === null && m.nextStep === step);
    const others = details.map((m) => `${m.migrationId} (${m.legacyPoolFqdn} -> ${m.targetPoolFqdn}, ${step === 2 ? 'legacy' : 'target'} database ${instanceOf(m) ?? 'not recorded'})`);
    refuse(
      'MIGRATION_NOT_FOUND',
      pools.length > 0
        ? `no open migration ${step === 2 ? 'from' : 'into'} ${pools.map((p) => p.fqdn).join(' or ')}, the ${side} whose database this is; ` +
            `plan it first (topo migrate plan). This line records step ${step} of a migration; nothing was recorded.`
        : `no ${side} of this deployment has this database instance, and no open migration names it. ` +
            `A pool's databaseInstance is recorded when the pool is defined (${step === 2 ? 'DefineLegacyGroupChatPool' : 'InstallPersistentChatPool'} with "databaseInstance": "<server\\instance>"); ` +
            `no command records it on a pool already defined.` +
            (unrecorded.length > 0
              ? ` ${unrecorded.map((m) => `Migration ${m.migrationId} (${m.legacyPoolFqdn} -> ${m.targetPoolFqdn}) records no ${step === 2 ? 'legacy' : 'target'} database; record its step ${step} with: topo migrate step ${m.migrationId}`).join('. ')}.`
              : ' Plan the migration first (topo migrate plan); its steps are recorded with topo migrate step <id> when the pools record no database instance.') +
            (others.length > 0 ? ` Open migrations: ${others.join('; ')}.` : ' There is no open migration.'),
      { pools: pools.map((p) => p.fqdn) },
    );
  }
  if (matching.length > 1) {
    refuse('AMBIGUOUS_MIGRATION', `several open migrations name this database instance: ${matching.map((m) => m.migrationId).join(', ')}; finish or roll back all but one.`);
  }
  const migration = matching[0]!;
  const id = migration.migrationId;
  if (migration.nextStep !== step) {
    refuse(
      'MIGRATION_STEP_OUT_OF_ORDER',
      migration.nextStep === null || migration.nextStep > step
        ? `step ${step} of migration ${id} is already recorded; nothing was recorded again.`
        : `migration ${id} is at step ${migration.nextStep}, not ${step}: run the steps before it first (topo migrate step ${id}).`,
      { migrationId: id, nextStep: migration.nextStep },
    );
  }
  const planned = migration.plan.export;
  const differs: string[] = [];
  if (line.fileName !== undefined && !sameText(line.fileName, planned.fileName)) differs.push(`-FileName '${line.fileName}' (the plan's file is '${planned.fileName}')`);
  if (line.level !== undefined && !sameText(line.level, planned.level)) differs.push(`-Level ${line.level} (the plan exports ${planned.level})`);
  if (line.scope !== undefined && scopeList(line.scope.join(',')).join(',') !== scopeList(planned.scope ?? '').join(',')) {
    differs.push(`-Scope ${line.scope.join(',')} (the plan's scope is ${planned.scope ?? 'every category'})`);
  }
  if (differs.length > 0) {
    refuse('MIGRATION_PLAN_MISMATCH', `the line does not match migration ${id}: ${differs.join('; ')}. Plan the migration with these values, or run the line as planned.`, {
      migrationId: id,
    });
  }
  return {
    // fromStep: should the migration have moved on meanwhile, the API refuses rather than run another step.
    body: { migrationId: id, steps: 1, fromStep: step, ...(deployment !== undefined ? { deployment } : {}) },
    summary: `step ${step} (${step === 2 ? 'export the legacy data' : 'import the data into the Persistent Chat pool'}) of migration ${id} (${migration.legacyPoolFqdn} -> ${migration.targetPoolFqdn})`,
  };
}

