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

/** Braces opened minus closed in a word. */
const braceBalance = (word: string): number => [...word].reduce((n, c) => n + (c === '{' ? 1 : c === '}' ? -1 : 0), 0);

/** The line in single quotes for bash (a `'` inside it written as `'\''`). */
const singleQuoted = (line: string): string => `'${line.replace(/'/g, "'\\''")}'`;

/**
 * Where a property of `$_` stands in a word (`{$_.PoolState`), what bash left of it: `{.PoolState`
 * when `$_` was empty, `{/usr/bin/node.PoolState` when it was its last argument. Undefined when `$_`
 * is still there, or the block reads a property without it (`-Filter {DisplayName ...}`).
 */
function eatenVariable(word: string): { left: string; property: string } | undefined {
  const match = /\{\s*([^\s{}$]*)\.([A-Za-z_]\w*)/.exec(word);
  if (!match || /^\$/.test(match[1]!)) return undefined;
  return { left: match[1]!, property: match[2]! };
}

/** The script block's words as PowerShell wanted them: `$_` put back, a bare value after a comparison quoted. */
function restoreBlock(words: readonly string[]): string[] {
  const eaten = words.map(eatenVariable).find((e) => e !== undefined);
  return words.map((word, i) => {
    let restored = word;
    if (eaten) {
      // Every `$_.` of the block became what bash put in its place.
      restored =
        eaten.left === ''
          ? restored.replace(/(^|[({!])\.(?=[A-Za-z_])/g, '$1$$_.')
          : restored.split(`${eaten.left}.`).join('$_.');
    }
    const previous = words[i - 1];
    if (previous !== undefined && COMPARISON.test(previous)) {
      const value = restored.replace(/[})]+$/, '');
      const tail = restored.slice(value.length);
      if (value !== '' && !/^[$"'\u201c\u201d\u2018\u2019(]/.test(value) && !/^-?\d+(\.\d+)?$/.test(value)) restored = `"${value}"${tail}`;
    }
    return restored;
  });
}

/**
 * The error to give for words a shell split, or undefined when nothing says the shell took the line
 * apart. `words` are the cmdlet line's process arguments, the first being the cmdlet.
 */
export function shellSplitError(words: readonly string[]): CmdletError | undefined {
  // A script block whose braces do not close in the word that opens them.
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.includes('{') || braceBalance(word) <= 0) continue;
    let end = i;
    let balance = braceBalance(word);
    while (balance > 0 && end + 1 < words.length) balance += braceBalance(words[++end]!);
    const pieces = words.slice(i, end + 1);
    const eaten = pieces.map(eatenVariable).find((e) => e !== undefined);
    const line = [...words.slice(0, i), ...restoreBlock(pieces), ...words.slice(end + 1)].join(' ');
    return new CmdletError(
      'SHELL_SPLIT_LINE',
      `The shell took this line apart before topo read it: the script block came as ${pieces.length} separate arguments (${pieces.map((p) => `'${p}'`).join(', ')})` +
        (eaten ? `, and $_ was replaced by ${eaten.left === '' ? 'nothing' : `'${eaten.left}'`} (bash's own variable)` : '') +
        `. bash reads { }, $ and quotes itself. Put the whole line in single quotes: topo ${singleQuoted(line)}`,
      'ShellSplitLine',
      { arguments: pieces },
    );
  }
  // A value in typographic quotes split at its spaces: the quote opens a word and closes in a later one.
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const first = word.replace(/^-[A-Za-z]+:/, '')[0];
    const [opens, closes] = first !== undefined && OPEN_DOUBLE.has(first) ? [OPEN_DOUBLE, CLOSE_DOUBLE] : first !== undefined && OPEN_SINGLE.has(first) ? [OPEN_SINGLE, CLOSE_SINGLE] : [];
    if (!opens || !closes) continue;
    const body = word.replace(/^-[A-Za-z]+:/, '');
    if (body.length > 1 && closes.has(body[body.length - 1]!)) continue;
    let end = i + 1;
    while (end < words.length && !closes.has(words[end]![words[end]!.length - 1]!)) end++;
    if (end >= words.length) continue;
    const pieces = words.slice(i, end + 1);
    return new CmdletError(
      'SHELL_SPLIT_LINE',
      `The shell took this line apart before topo read it: the value ${pieces.join(' ')} came as ${pieces.length} separate arguments (${pieces.map((p) => `'${p}'`).join(', ')}). ` +
        `Typographic quotes (\u201c \u201d \u2018 \u2019) are quotes to PowerShell, not to bash, which splits at the spaces inside them. ` +
        `Put the whole line in single quotes: topo ${singleQuoted(words.join(' '))}`,
      'ShellSplitLine',
      { arguments: pieces },
    );
  }
  return undefined;
}
