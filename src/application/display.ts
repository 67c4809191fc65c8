/**
 * Text from the log or a request as a person reads it: every character a terminal would act on, or
 * that hides or reorders text, written out visibly. The CLI shows values with the same escaping the
 * domain's runbooks use, so a value reads alike in a runbook and on the terminal.
 */
export { printable } from '../domain/shared/printable';
