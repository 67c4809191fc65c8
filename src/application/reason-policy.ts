import { ReasonRequired } from '../domain/errors';

/**
 * The deployment's own reason policy (`REASON_REQUIRED_FOR`): commands that need a reason or change
 * ticket beyond those the product always requires one for (the domain refuses those itself). Dry
 * runs included, as for the product's own: a dry run shows what the real command would do.
 */
export function requireConfiguredReason(required: ReadonlySet<string>, command: string, reason: string | null): void {
  if (required.has(command) && !reason?.trim()) throw new ReasonRequired(command, 'configured');
}
