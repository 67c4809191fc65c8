/**
 * Text a person reads on a terminal or in a script's comments, with every character that a terminal
 * would act on, or that hides or reorders text, written out visibly instead.
 *
 * Escaped: C0 controls and DEL (`\x1b`, `\x07`, `\r`, `\n`, `\t`...), C1 controls (`\x9b` is CSI on
 * terminals that read 8-bit controls), format characters (bidirectional overrides and isolates such as
 * `\u{202e}`, zero-width characters, the BOM), the Unicode line and paragraph separators and lone
 * surrogates. Backslashes are not doubled: `C:\Logs` stays readable, so an escape in the output can be
 * told from the same characters typed in the value only by comparing with the value's JSON.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const ANY_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'u');

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.codePointAt(0)!;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** The value on one line, every unprintable character escaped visibly (line breaks included). */
export function printable(value: string): string {
  return value.replace(UNPRINTABLE, escapeOne);
}

/** Whether `value` holds a character that `printable` would escape. */
export function hasUnprintable(value: string): boolean {
  return ANY_UNPRINTABLE.test(value);
}

/**
 * Every way a line of text can end, for a reader: CR LF, CR, LF, NEL (U+0085), and the Unicode line and
 * paragraph separators (U+2028, U+2029); also vertical tab and form feed, which some editors break on.
 */
export const LINE_TERMINATOR = /\r\n|[\n\r\u000b\u000c\u0085\u2028\u2029]/;

/** Free text split into the lines a reader would see, each made `printable`. */
export function printableLines(value: string): string[] {
  return value.split(LINE_TERMINATOR).map(printable);
}
