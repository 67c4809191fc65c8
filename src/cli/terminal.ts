import { printable } from '../application/display';

/**
 * What the CLI prints on a terminal. A value read from the store or from a server's answer may hold
 * anything a caller once sent: an ESC sequence that recolours the terminal or sets its title, a BEL,
 * a CR that overwrites the line, a CR LF that fakes a line of output, an 8-bit CSI (U+009B), a
 * right-to-left override (U+202E) that reorders what is read. None of them reaches the terminal raw:
 * each is shown escaped (`\x1b`, `\r`, `\u{202e}`).
 */

/** One value from the store, on one line, safe for a terminal: every control and invisible character shown escaped. */
export function terminalSafe(value: unknown): string {
  if (value === null || value === undefined) return '';
  return printable(typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/** A value of an answer with every string in it made terminalSafe, for renderings that print strings as they find them. */
export function terminalValues<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map(terminalValues) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [terminalSafe(key), terminalValues(item)])) as T;
  }
  return value;
}

/** An error about to be printed as text: its message (which may quote stored values) made terminalSafe. */
export function terminalError<E>(error: E): E {
  if (error instanceof Error) error.message = terminalSafe(error.message);
  return error;
}

/**
 * Output the CLI builds from values it could not escape one by one (another module's rendering):
 * every control and invisible character escaped, except the line feeds that separate its lines
 * (and, with `crlf`, CR LF pairs: a document such as a runbook keeps its line ends).
 */
export function terminalBlock(text: string, options: { crlf?: boolean } = {}): string {
  return text
    .split(options.crlf ? /(\r\n|\n)/ : /(\n)/)
    .map((part, i) => (i % 2 === 1 ? part : printable(part)))
    .join('');
}

/**
 * Characters JSON.stringify leaves raw that a terminal acts on or hides: DEL, C1 controls, format
 * characters, line and paragraph separators, lone surrogates. In JSON text they can only stand inside
 * strings, where `\uXXXX` is the same character: the JSON stays the same value.
 */
const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** JSON text safe for a terminal and still valid JSON of the same value. */
export function terminalJsonText(json: string): string {
  return json.replace(JSON_UNSAFE, (char) =>
    Array.from({ length: char.length }, (_, k) => `\\u${char.charCodeAt(k).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** `JSON.stringify(value, null, indent)`, safe for a terminal (see terminalJsonText). */
export function terminalJson(value: unknown, indent?: number): string {
  return terminalJsonText(JSON.stringify(value, null, indent));
}

/**
 * A document (a runbook, a report) bound for stdout: escaped as a block, keeping its line ends, when
 * stdout is a terminal; as it is when it goes to a file or a pipe (`> runbook.ps1`), where its bytes matter.
 */
export function documentForStdout(text: string, isTTY: boolean = process.stdout.isTTY === true): string {
  return isTTY ? terminalBlock(text, { crlf: true }) : text;
}
