/**
 * A cmdlet line typed into bash without quotes reaches `topo` already taken apart: bash splits a
 * script block `{...}` at its spaces, replaces `$_` with its own last argument, removes the ASCII
 * quotes, and splits a value in typographic quotes (“...”), which are no quotes to bash. Read as
 * they arrive, such words give a misleading error ("Did you mean '-OU'?"); this says what bash did
 * and what to type instead: the whole line in single quotes.
 */
import { CmdletError } from './cmdlet-parser';

const OPEN_DOUBLE = new Set(['\u201c', '\u201e']);
const CLOSE_DOUBLE = new Set(['\u201d', '\u201c']);
const OPEN_SINGLE = new Set(['\u2018', '\u201a', '\u201b']);
const CLOSE_SINGLE = new Set(['\u2019', '\u2018']);
const COMPARISON = /^-c?(eq|ne|like|notlike|match|notmatch|gt|lt|ge|le)$/i;
const LOGICAL = /^-(and|or|xor)$/i;
/** A word bash passed with a space, tab or line break in it: quoted where it was typed. */
const QUOTED = /[ \t\n]/;

/** Braces opened minus closed in a word. */
const braceBalance = (word: string): number => [...word].reduce((n, c) => n + (c === '{' ? 1 : c === '}' ? -1 : 0), 0);

/** The line in single quotes for bash (a `'` inside it written as `'\''`). */
const singleQuoted = (line: string): string => `'${line.replace(/'/g, "'\\''")}'`;

/**
 * Where a property of `$_` stands in a script block's words (`{$_.PoolState`), what bash left of it:
 * `{.PoolState` when `$_` was empty, `{/usr/bin/node.PoolState` when it was its last argument, or
 * several words when that argument held spaces (`{Get-X a b.PoolState`: bash splits the expansion).
 * Undefined when `$_` is still there, or the block reads a property without it (`-Filter {DisplayName ...}`).
 */
function eatenVariable(pieces: readonly string[]): { left: string; property: string } | undefined {
  const joined = pieces.join(' ');
  const open = joined.indexOf('{');
  if (open < 0) return undefined;
  const words = joined.slice(open + 1).trim().split(' ').filter((w) => w !== '');
  const first = /^-not$/i.test(words[0] ?? '') ? 1 : 0;
  // The property is the word an operator follows (`<what bash left>.PoolState -eq`), or that ends the
  // block or a clause; the words before it are what bash left of `$_`, which may be a whole earlier
  // command line, parameters included. An operator or a quoted or `$` word before it: no `$_` was eaten.
  for (let k = first; k < words.length; k++) {
    const word = words[k]!;
    if (COMPARISON.test(word) || LOGICAL.test(word) || /["'$]/.test(word)) return undefined;
    const next = words[k + 1];
    const property = /^(.*)\.([A-Za-z_]\w*)\}*$/s.exec(word);
    if (property && (next === undefined || word.endsWith('}') || COMPARISON.test(next) || LOGICAL.test(next))) {
      const left = [...words.slice(first, k), property[1]!].filter((w) => w !== '').join(' ');
      return { left, property: property[2]! };
    }
  }
  return undefined;
}

/** What bash put for `$_`, as the message names it: never the whole of a long expansion (it may be a whole earlier command line). */
const shownExpansion = (left: string): string => (left.length > 40 || left.includes(' ') ? `${left.split(' ').length > 1 ? 'several words' : 'a long text'} ('${left.slice(0, 24)}...')` : `'${left}'`);

/** Words after a comparison that end the operand: nothing was left of the value (a `$Null` bash expanded to nothing). */
const ENDS_OPERAND = /^([})]|-(and|or|xor)$)/i;

/** The script block's words as PowerShell wanted them: `$_` put back, a swallowed `$Null` put back, a bare value after a comparison quoted. */
function restoreBlock(pieces: readonly string[]): { words: string[]; swallowed: number } {
  const eaten = eatenVariable(pieces);
  let words = [...pieces];
  if (eaten) {
    // Every `$_.` of the block became what bash put in its place (split at its spaces, if it had any).
    const SEP = '\u0000';
    const joined = words.join(SEP);
    const restored =
      eaten.left === '' ? joined.replace(/(^|[({!]|\u0000)\.(?=[A-Za-z_])/g, '$1$$_.') : joined.split(`${eaten.left.split(' ').join(SEP)}.`).join('$_.');
    words = restored.split(SEP).filter((w) => w !== '');
  }
  let swallowed = 0;
  const out: string[] = [];
  words.forEach((word, i) => {
    let restored = word;
    const previous = words[i - 1];
    if (previous !== undefined && COMPARISON.test(previous)) {
      if (ENDS_OPERAND.test(restored)) {
        out.push('$Null');
        swallowed++;
      } else {
        const value = restored.replace(/[})]+$/, '');
        const tail = restored.slice(value.length);
        if (value === '') {
          restored = `$Null${tail}`;
          swallowed++;
        } else if (!/^[$"'\u201c\u201d\u2018\u2019(]/.test(value) && !/^-?\d+(\.\d+)?$/.test(value)) restored = `"${value}"${tail}`;
      }
    }
    out.push(restored);
  });
  if (words.length > 0 && COMPARISON.test(words[words.length - 1]!)) {
    out.push('$Null');
    swallowed++;
  }
  return { words: out, swallowed };
}

/** The product's options (`--reason x`, `--json`, ...) after the quoted line, as typed; a token is not repeated. */
function withOptions(line: string, options: readonly string[]): string {
  const shown: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const word = options[i]!;
    if (/^--token(=|$)/.test(word)) {
      shown.push('--token', '"$TOPO_TOKEN"');
      if (word === '--token') i++;
      continue;
    }
    shown.push(/^[\w@%+=:,./-]+$/.test(word) ? word : singleQuoted(word));
  }
  return [`topo ${singleQuoted(line)}`, ...shown].join(' ');
}

/**
 * A parameter whose value bash removed: `-ActiveServers $Null` reaches topo as `-ActiveServers` and
 * nothing (bash expands its own, unset, `$Null`). The error to give, with `$Null` put back, or
 * undefined when the line does not end that way.
 */
export function swallowedValueError(words: readonly string[], parameter: string, options: readonly string[] = []): CmdletError | undefined {
  const at = words.findIndex((w, i) => i > 0 && /^-[A-Za-z]\w*$/.test(w) && parameter.toLowerCase().startsWith(w.slice(1).toLowerCase()));
  if (at < 0) return undefined;
  const next = words[at + 1];
  if (next !== undefined && !/^-[A-Za-z]/.test(next)) return undefined;
  const line = [...words.slice(0, at + 1), '$Null', ...words.slice(at + 1)].join(' ');
  return new CmdletError(
    'SHELL_SPLIT_LINE',
    `The shell took this line apart before topo read it: -${parameter} came with no value. bash expands a $name it does not know ($Null, $true, $false) to nothing, ` +
      `so the value was most likely a PowerShell variable such as $Null. Put the whole line in single quotes, with the variable you meant: ${withOptions(line, options)}`,
    'ShellSplitLine',
    { parameter },
  );
}

/**
 * The error to give for words a shell split, or undefined when nothing says the shell took the line
 * apart. `words` are the cmdlet line's process arguments, the first being the cmdlet.
 */
export function shellSplitError(words: readonly string[], options: readonly string[] = []): CmdletError | undefined {
  // A script block whose braces do not close in the word that opens them.
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    // bash splits every unquoted word at its spaces: a word that holds one was quoted, and is as typed.
    if (QUOTED.test(word) || !word.includes('{') || braceBalance(word) <= 0) continue;
    let end = i;
    let balance = braceBalance(word);
    while (balance > 0 && end + 1 < words.length) balance += braceBalance(words[++end]!);
    const pieces = words.slice(i, end + 1);
    const eaten = eatenVariable(pieces);
    const restored = restoreBlock(pieces);
    const line = [...words.slice(0, i), ...restored.words, ...words.slice(end + 1)].join(' ');
    return new CmdletError(
      'SHELL_SPLIT_LINE',
      `The shell took this line apart before topo read it: the script block came as ${pieces.length} separate arguments (${pieces.map((p) => `'${p}'`).join(', ')})` +
        (eaten ? `, and $_ was replaced by ${eaten.left === '' ? 'nothing' : shownExpansion(eaten.left)} (bash's own variable)` : '') +
        (restored.swallowed > 0 ? `, and ${restored.swallowed === 1 ? 'a $variable after a comparison was' : `${restored.swallowed} $variables after comparisons were`} expanded to nothing (bash does not know PowerShell's $Null, $true, $false): put back as $Null, type the one you meant` : '') +
        `. bash reads { }, $ and quotes itself. Put the whole line in single quotes: ${withOptions(line, options)}`,
      'ShellSplitLine',
      { arguments: pieces },
    );
  }
  // A value in typographic quotes split at its spaces: the quote opens a word and closes in a later one.
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const first = word.replace(/^-[A-Za-z]+:/, '')[0];
    const [opens, closes] = first !== undefined && OPEN_DOUBLE.has(first) ? [OPEN_DOUBLE, CLOSE_DOUBLE] : first !== undefined && OPEN_SINGLE.has(first) ? [OPEN_SINGLE, CLOSE_SINGLE] : [];
    if (!opens || !closes || QUOTED.test(word)) continue;
    const body = word.replace(/^-[A-Za-z]+:/, '');
    if (body.length > 1 && closes.has(body[body.length - 1]!)) continue;
    let end = i + 1;
    while (end < words.length && !QUOTED.test(words[end]!) && !closes.has(words[end]![words[end]!.length - 1]!)) end++;
    if (end >= words.length || QUOTED.test(words[end]!)) continue;
    const pieces = words.slice(i, end + 1);
    return new CmdletError(
      'SHELL_SPLIT_LINE',
      `The shell took this line apart before topo read it: the value ${pieces.join(' ')} came as ${pieces.length} separate arguments (${pieces.map((p) => `'${p}'`).join(', ')}). ` +
        `Typographic quotes (\u201c \u201d \u2018 \u2019) are quotes to PowerShell, not to bash, which splits at the spaces inside them. ` +
        `Put the whole line in single quotes: ${withOptions(words.join(' '), options)}`,
      'ShellSplitLine',
      { arguments: pieces },
    );
  }
  return undefined;
}
