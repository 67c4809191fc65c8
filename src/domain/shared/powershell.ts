import { printableLines } from './printable';

/**
 * Values written into PowerShell that an administrator runs (a migration's runbook, an observation's
 * runbook): every value is data PowerShell cannot run, inside a single-quoted string (`psString`) or
 * inside line comments (`psComment`).
 */

/**
 * PowerShell's single-quote characters: the ASCII apostrophe and U+2018, U+2019, U+201A, U+201B
 * (PowerShell Language Specification §2.3.5.2, "single-quote-character"; the tokenizer's
 * `CharExtensions.IsSingleQuote`). Any of them ends a single-quoted string; inside one, two in a row
 * stand for the second.
 */
const SINGLE_QUOTE_CHARACTERS = /['\u2018\u2019\u201a\u201b]/g;

/**
 * A value as a PowerShell verbatim string: `'value'`, each of PowerShell's single-quote characters
 * doubled. Inside single quotes PowerShell expands nothing (no `$`, no backtick escapes, no
 * sub-expressions), so the value is data whatever it holds. The one way to write a value as a string.
 */
export function psString(value: string): string {
  return `'${value.replace(SINGLE_QUOTE_CHARACTERS, (quote) => quote + quote)}'`;
}

/** A list parameter's value: `'Eng', 'Sales'` (an array literal of verbatim strings). */
export function psList(values: readonly string[]): string {
  return values.map(psString).join(', ');
}

/**
 * Free text as PowerShell line comments: one `# ` line for every line a reader would see. Lines are
 * split on every line terminator (CR LF, CR, LF, NEL, U+2028, U+2029, VT, FF), so no part of the text
 * can start a line of its own; control and invisible characters are shown escaped (`\x1b`, `\u{202e}`).
 * A `<#` or `#>` in the text sits after a `#` that already opened a line comment, so it opens or closes
 * no block comment. The one way to write a value into a comment.
 */
export function psComment(text: string): string[] {
  return printableLines(text).map((line) => (line.length > 0 ? `# ${line}` : '#'));
}
