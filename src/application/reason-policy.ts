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

/**
 * A dry run needs no reason, but the change it previews may: the warning a dry run without a reason
 * carries when the real run would be refused for want of one (so a batch can be checked before it runs).
 */
export function reasonWarning(configured: ReadonlySet<string>, command: string, reason: string | null | undefined, whatIf: boolean): { code: string; rule: string; message: string } | undefined {
  if (!whatIf || reason?.trim()) return undefined;
  if (!PRODUCT_REQUIRED.has(command) && !configured.has(command)) return undefined;
  const policy = PRODUCT_REQUIRED.has(command) ? 'the product records every plan with why it was made' : 'REASON_REQUIRED_FOR lists it';
  return { code: 'REASON_REQUIRED', rule: 'reason-policy', message: `${command} needs a reason when it runs for real (policy: ${policy}); this dry run was given none.` };
}
