import { ReasonRequired } from '../domain/errors';

/** Commands the product itself requires a reason for, checked here: those whose decider does not (MigratePool's plan is recorded with it). */
const PRODUCT_REQUIRED: ReadonlySet<string> = new Set(['MigratePool']);

/**
 * The reason policy, one for every command, topology or migration: a change is recorded with why it
 * was made. The product requires a reason for MigratePool; the deployment may require one for more
 * commands (`REASON_REQUIRED_FOR`). A dry run records nothing and needs no reason, whatever the
 * command: it is what an administrator looks at (and shows) before there is a change ticket, such as
 * a migration's plan or the events of a change. (The removals, decommissions, RollbackMigration,
 * FailMigrationStep and AdoptObservedState carry their reason in their own events: the domain and the
 * API refuse them without one, dry runs included.)
 */
export function requireReason(configured: ReadonlySet<string>, command: string, reason: string | null | undefined, whatIf: boolean): void {
  if (whatIf || reason?.trim()) return;
  if (PRODUCT_REQUIRED.has(command)) throw new ReasonRequired(command);
  if (configured.has(command)) throw new ReasonRequired(command, 'configured');
}
