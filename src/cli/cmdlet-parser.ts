/**
 * Cmdlet lines as the Lync Server Management Shell accepts them: typographic quotes and dashes,
 * tokenizing, pipelines (`Get-X | Where-Object {...} | Remove-X`), values, and binding the arguments
 * to a cmdlet's parameters (case-insensitive names, unambiguous prefixes, aliases, the common
 * parameters, `-Param value`, `-Param:value`, switches, one positional parameter). Pure: no I/O.
 *
 * Written by hand on purpose: no library parses PowerShell for Node (PowerShell's own parser is .NET,
 * and the grammar packages for editors only colour text), and the product needs only the part of the
 * language an administrator's cmdlet lines use: one pipeline a line, literals, script blocks of
 * comparisons. What it does not read it refuses by name rather than guess.
 */

/** A parameter value: a string, `$true`/`$false`, `$null`, a list (`a,b`), a hashtable (`@{Add="a"}`) or a script block (`{...}`). */
export type CmdletValue = string | boolean | null | CmdletValue[] | CmdletHashtable | CmdletScriptBlock;
export interface CmdletHashtable {
  readonly kind: 'hashtable';
  /** Keys as written; look them up without regard to case. */
  readonly entries: ReadonlyArray<readonly [string, CmdletValue]>;
}
/** `{ $_.PoolState -eq "FailedOver" }`: its text, without the braces; read by the cmdlet that takes it. */
export interface CmdletScriptBlock {
  readonly kind: 'scriptblock';
  readonly text: string;
}

/** A refusal of the line itself, before anything is sent: named after PowerShell's error ids. */
export class CmdletError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** PowerShell's FullyQualifiedErrorId for the same mistake. */
    readonly errorId: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CmdletError';
  }
}

// ---------------------------------------------------------------------------------------------
// Typographic quotes and dashes, as PowerShell's tokenizer reads them

/** Characters PowerShell's tokenizer takes for `"` (“ ” „), `'` (‘ ’ ‚ ‛) and `-` (– — ―). */
const DOUBLE_QUOTES = new Set(['"', '\u201C', '\u201D', '\u201E']);
const SINGLE_QUOTES = new Set(["'", '\u2018', '\u2019', '\u201A', '\u201B']);
const DASHES = new Set(['-', '\u2013', '\u2014', '\u2015']);

export const isDoubleQuote = (c: string | undefined): boolean => c !== undefined && DOUBLE_QUOTES.has(c);
export const isSingleQuote = (c: string | undefined): boolean => c !== undefined && SINGLE_QUOTES.has(c);
export const isDash = (c: string | undefined): boolean => c !== undefined && DASHES.has(c);

/**
 * The line with typographic quotes and dashes outside strings written as ASCII, as PowerShell's
 * tokenizer treats them (a line copied from a web page or a word processor): `“a”` is `"a"`, `‘a’`
 * is `'a'`, `–Identity` is `-Identity`. Inside a string the other kind stays literal (`"Bob’s"`);
 * a string opened by one of its kind closes at any of its kind, doubled to escape as with ASCII.
 */
export function canonicalize(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (isDash(c)) {
      out += '-';
      continue;
    }
    const double = isDoubleQuote(c);
    if (!double && !isSingleQuote(c)) {
      out += c;
      continue;
    }
    const same = double ? isDoubleQuote : isSingleQuote;
    const quote = double ? '"' : "'";
    let content = '';
    let j = i + 1;
    let closed = false;
    for (; j < line.length; j++) {
      const d = line[j]!;
      if (double && d === '`' && j + 1 < line.length) {
        content += d + line[++j];
        continue;
      }
      if (same(d)) {
        if (same(line[j + 1])) {
          content += quote + quote;
          j++;
          continue;
        }
        closed = true;
        break;
      }
      content += d;
    }
    if (!closed) {
      // Left for the tokenizer to refuse with PowerShell's own message.
      out += quote + content;
      i = j;
      continue;
    }
    out += quote + content + quote;
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tokenizing a line into raw words (quotes kept; the value parser reads them).

/**
 * Splits a line into words at unquoted whitespace. Quotes, `@{...}` and `@(...)` groups and
 * comma-separated lists (`a, b`) stay in one word. A `#` outside quotes starts a comment.
 */
export function tokenize(text: string): string[] {
  const line = canonicalize(text);
  const words: string[] = [];
  let i = 0;
  const n = line.length;
  const isSpace = (c: string | undefined): boolean => c !== undefined && POWERSHELL_SPACE.test(c);
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n || line[i] === '#') break;
    if (line[i] === '|') {
      // A pipeline's stages are separated by a word of their own.
      words.push(PIPE);
      i++;
      continue;
    }
    let word = '';
    let depth = 0;
    while (i < n) {
      const c = line[i]!;
      if (c === "'" || c === '"') {
        const end = closingQuote(line, i);
        if (end < 0) throw new CmdletError('PARSE_ERROR', `The string is missing the terminator: ${c}.`, 'TerminatorExpectedAtEndOfString', { at: i + 1 });
        word += line.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      if (c === '`' && i + 1 < n) {
        word += line.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === '@' && (line[i + 1] === '{' || line[i + 1] === '(')) {
        word += c + line[i + 1];
        depth++;
        i += 2;
        continue;
      }
      if (c === '{' || (c === '(' && depth > 0)) {
        // A script block `{ ... }` (and parentheses inside one) stays one word, spaces and all.
        word += c;
        depth++;
        i++;
        continue;
      }
      if (c === '|' && depth === 0) break;
      if ((c === '}' || c === ')') && depth > 0) depth--;
      else if (c === '#' && depth === 0 && word === '') break;
      if (isSpace(c) && depth === 0) {
        // `a, b` and `a ,b` are one list.
        let j = i;
        while (j < n && isSpace(line[j])) j++;
        if (word.endsWith(',') || line[j] === ',') {
          i = j;
          continue;
        }
        break;
      }
      word += c;
      i++;
    }
    if (depth > 0) throw new CmdletError('PARSE_ERROR', `Missing closing '}' in statement block or type definition: ${word}`, 'MissingEndCurlyBrace', { word });
    words.push(word);
  }
  return words;
}

/**
 * What PowerShell's tokenizer reads as whitespace between tokens: space, tab, vertical tab, form feed,
 * the line breaks, NEL (U+0085), and every Unicode space separator (U+00A0 no-break space, U+2000-U+200A,
 * U+202F, U+205F, U+3000, ...), as a line copied from a web page or a word processor has them.
 */
const POWERSHELL_SPACE = /^[ \t\v\f\r\n\u0085\p{Zs}]$/u;

/** The word that separates the stages of a pipeline. */
export const PIPE = '|';

/** Index of the quote closing the one at `start` (doubled quotes and, in "...", backticks escape). */
function closingQuote(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (quote === '"' && c === '`') {
      i++;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i++;
        continue;
      }
      return i;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Values

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '`': '`', '"': '"', "'": "'", $: '$' };

function unquote(text: string): string {
  const quote = text[0]!;
  const inner = text.slice(1, -1);
  if (quote === "'") return inner.replace(/''/g, "'");
  return inner.replace(/""/g, '"').replace(/`(.)/g, (_, c: string) => ESCAPES[c] ?? c);
}

/** Reads one word as a value: `$null`, `$true`, `$false`, `'...'`, `"..."`, `a,b`, `@{K=v; K2=v1,v2}`, `@(a,b)`, or a bare word. */
export function parseValue(word: string): CmdletValue {
  const text = word.trim();
  const items = splitTopLevel(text, ',');
  if (items.length > 1) return items.map((item) => parseValue(item));
  if (/^\$null$/i.test(text)) return null;
  if (/^\$true$/i.test(text)) return true;
  if (/^\$false$/i.test(text)) return false;
  if (text.startsWith('@{') && text.endsWith('}')) return parseHashtable(text);
  if (text.startsWith('{') && text.endsWith('}')) return { kind: 'scriptblock', text: text.slice(1, -1).trim() };
  if (text.startsWith('@(') && text.endsWith(')')) {
    const inner = text.slice(2, -1).trim();
    if (inner === '') return [];
    const value = parseValue(inner);
    return Array.isArray(value) ? value : [value];
  }
  if (text.length >= 2 && (text[0] === "'" || text[0] === '"') && closingQuote(text, 0) === text.length - 1) return unquote(text);
  return text;
}

function parseHashtable(text: string): CmdletHashtable {
  const inner = text.slice(2, -1);
  const entries: [string, CmdletValue][] = [];
  for (const part of splitTopLevel(inner, ';', true)) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new CmdletError('PARSE_ERROR', `Missing '=' operator after key in hash literal: ${part.trim()}`, 'MissingEqualsInHashLiteral', { text });
    const key = part.slice(0, eq).trim().replace(/^(['"])(.*)\1$/, '$2');
    const value = part.slice(eq + 1).trim();
    if (value === '') throw new CmdletError('PARSE_ERROR', `Missing statement after '=' in hash literal: ${part.trim()}`, 'MissingStatementInHashLiteral', { text });
    entries.push([key, parseValue(value)]);
  }
  return { kind: 'hashtable', entries };
}

/** Splits at `separator` outside quotes and brackets; `newlinesToo` also splits at line breaks (hash literals). */
function splitTopLevel(text: string, separator: string, newlinesToo = false): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(text, i);
      const stop = end < 0 ? text.length - 1 : end;
      current += text.slice(i, stop + 1);
      i = stop;
      continue;
    }
    if (c === '`' && i + 1 < text.length) {
      current += text.slice(i, i + 2);
      i++;
      continue;
    }
    if (c === '{' || c === '(') depth++;
    if (c === '}' || c === ')') depth--;
    if (depth === 0 && (c === separator || (newlinesToo && c === '\n'))) {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts;
}

/** A value as text, as PowerShell would show it in an error. */
export function showValue(value: CmdletValue): string {
  if (value === null) return '$null';
  if (typeof value === 'boolean') return value ? '$true' : '$false';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(showValue).join(',');
  if (value.kind === 'scriptblock') return `{${value.text}}`;
  return `@{${value.entries.map(([k, v]) => `${k}=${showValue(v)}`).join('; ')}}`;
}

// ---------------------------------------------------------------------------------------------
// Lines

export type CmdletArgument =
  | { readonly kind: 'named'; readonly name: string; readonly value: CmdletValue | undefined; readonly colon: boolean }
  | { readonly kind: 'positional'; readonly value: CmdletValue; readonly raw: string };

export interface CmdletLine {
  readonly cmdlet: string;
  readonly args: readonly CmdletArgument[];
}

const PARAMETER = /^-([A-Za-z_?][\w?]*)(:(.*))?$/s;

/**
 * Reads the words of a cmdlet line, the first being the cmdlet's name: from `tokenize` for a line
 * of a script, or the process arguments as a shell split them. A named parameter's value is bound
 * later, when the cmdlet says whether the parameter is a switch.
 */
export function readWords(words: readonly string[]): CmdletLine {
  const [cmdlet, ...rest] = words;
  if (cmdlet === undefined || cmdlet === '') throw new CmdletError('PARSE_ERROR', 'No cmdlet given.', 'EmptyLine');
  if (cmdlet === PIPE) throw new CmdletError('PARSE_ERROR', 'An empty pipe element is not allowed.', 'EmptyPipeElement');
  const args: CmdletArgument[] = [];
  for (const raw of rest) {
    // Process arguments have not been through tokenize: a typographic dash or quote is read here.
    const word = canonicalize(raw);
    const match = PARAMETER.exec(word);
    if (match) {
      const colon = match[2] !== undefined;
      args.push({ kind: 'named', name: match[1]!, value: colon ? parseColonValue(match[3]!) : undefined, colon });
    } else {
      if (word.startsWith('<')) {
        throw new CmdletError(
          'PARSE_ERROR',
          `The '<' operator is reserved for future use: '${word}' looks like a placeholder of the documentation (<...>); write the value in its place.`,
          'RedirectionNotSupported',
          { word },
        );
      }
      args.push({ kind: 'positional', value: parseValue(word), raw: word });
    }
  }
  return { cmdlet, args };
}

/** `-Confirm:` with nothing after it is what a POSIX shell leaves of `-Confirm:$false`. */
function parseColonValue(text: string): CmdletValue {
  return text === '' ? false : parseValue(text);
}

/** A logical line of text: `tokenize` then `readWords`. */
export function parseLine(line: string): CmdletLine {
  return readWords(tokenize(line));
}

/** The stages of a pipeline, from its words: `Get-X -A b | Where-Object {...} | Remove-X`. */
export function readPipeline(words: readonly string[]): CmdletLine[] {
  const stages: string[][] = [[]];
  for (const word of words) {
    if (word === PIPE) stages.push([]);
    else stages[stages.length - 1]!.push(word);
  }
  if (stages.some((stage) => stage.length === 0)) throw new CmdletError('PARSE_ERROR', 'An empty pipe element is not allowed.', 'EmptyPipeElement');
  return stages.map(readWords);
}

/** A logical line of text as a pipeline (one stage for a plain cmdlet line). */
export function parsePipeline(line: string): CmdletLine[] {
  return readPipeline(tokenize(line));
}

// ---------------------------------------------------------------------------------------------
// Binding to a cmdlet's parameters

export interface ParameterSpec {
  readonly name: string;
  /** A switch takes no value (`-WhatIf`), or `-WhatIf:$false`. */
  readonly type: 'switch' | 'string' | 'value';
  readonly required?: boolean;
  /** The position of an unnamed argument bound to it (only 0 is used). */
  readonly position?: number;
  /** Accepted by the real cmdlet but not by this product: named in the error. */
  readonly unsupported?: string;
  /** Shown in the syntax line. */
  readonly placeholder?: string;
  /** Other names of the parameter, matched exactly (`-ea` for `-ErrorAction`). */
  readonly aliases?: readonly string[];
  /** Bound from the property of the same name of each object piped in (`Get-X | Remove-X`). */
  readonly fromPipeline?: boolean;
}

/**
 * PowerShell's common parameters, which every cmdlet accepts, with their aliases
 * (about_CommonParameters). What each does in this product is decided by the cmdlet runner.
 */
export const COMMON_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'Verbose', type: 'switch', aliases: ['vb'] },
  { name: 'Debug', type: 'switch', aliases: ['db'] },
  { name: 'ErrorAction', type: 'string', aliases: ['ea'], placeholder: 'ActionPreference' },
  { name: 'WarningAction', type: 'string', aliases: ['wa'], placeholder: 'ActionPreference' },
  { name: 'InformationAction', type: 'string', aliases: ['infa'], placeholder: 'ActionPreference' },
  { name: 'ErrorVariable', type: 'string', aliases: ['ev'] },
  { name: 'WarningVariable', type: 'string', aliases: ['wv'] },
  { name: 'InformationVariable', type: 'string', aliases: ['iv'] },
  { name: 'OutVariable', type: 'string', aliases: ['ov'] },
  { name: 'OutBuffer', type: 'string', aliases: ['ob'], placeholder: 'Int32' },
  { name: 'PipelineVariable', type: 'string', aliases: ['pv'] },
];

/** A cmdlet's own parameters and the common ones. */
function parametersOf(spec: CmdletSpec): readonly ParameterSpec[] {
  return [...spec.parameters, ...COMMON_PARAMETERS];
}

export interface CmdletSpec {
  readonly name: string;
  readonly parameters: readonly ParameterSpec[];
}

export type BoundParameters = ReadonlyMap<string, CmdletValue>;

/** Case-insensitive edit distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length]!;
}

/** The closest of `candidates` to `input`, when close enough to be a plausible typo. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(input, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const tolerance = Math.max(2, Math.floor(input.length / 3));
  if (best !== undefined && bestDistance <= tolerance) return best;
  // A fragment of the name ("Endpoint") also points at it.
  const lower = input.toLowerCase();
  return lower.length >= 4 ? candidates.find((c) => c.toLowerCase().includes(lower) || lower.includes(c.toLowerCase())) : undefined;
}

/** What answers instead, for a Lync cmdlet the product does not model that the pages send a reader to. */
const INSTEAD: Readonly<Record<string, string>> = {
  // Set-CsPersistentChatActiveServer's page, Example 1: the collection's identity, read from Get-CsService -PersistentChatServer.
  'get-csservice': 'Get-CsPersistentChatState lists the Persistent Chat pools with their Identity (service:PersistentChatServer:<pool fqdn>).',
};

/** Finds the cmdlet named by `name` (case-insensitive), or throws PowerShell's CommandNotFoundException with a suggestion. */
export function resolveCmdlet<S extends CmdletSpec>(name: string, specs: readonly S[]): S {
  const found = specs.find((s) => s.name.toLowerCase() === name.toLowerCase());
  if (found) return found;
  if (name.toLowerCase() === 'set-cspersistentchatendpoint') {
    // R5: Lync has no such cmdlet, on purpose; say what to do instead rather than suggest a lookalike.
    throw new CmdletError(
      'UNKNOWN_CMDLET',
      `The term '${name}' is not recognized as the name of a cmdlet. R5: there is no Set- cmdlet for a Persistent Chat endpoint; ` +
        `to change one, remove it (Remove-CsPersistentChatEndpoint) and create it again (New-CsPersistentChatEndpoint).`,
      'CommandNotFoundException',
      { cmdlet: name, rule: 'R5' },
    );
  }
  // A typo of a modelled cmdlet gets a suggestion; another Lync cmdlet is said to be outside the product.
  const nearest = closest(name, specs.map((s) => s.name));
  const suggestion = nearest !== undefined && distance(name, nearest) <= 3 ? nearest : undefined;
  const modelled = `This product models: ${specs.map((s) => s.name).join(', ')}.`;
  if (suggestion === undefined && /^[A-Za-z]+-Cs[A-Za-z]/.test(name)) {
    const instead = INSTEAD[name.toLowerCase()];
    throw new CmdletError(
      'CMDLET_NOT_MODELLED',
      `'${name}' is a Lync Server Management Shell cmdlet this product does not model: it keeps the Persistent Chat topology, ` +
        `its endpoints and the migrations from Group Chat, and records nothing for this line.${instead ? ` ${instead}` : ''} ${modelled}`,
      'CommandNotFoundException',
      { cmdlet: name, modelled: specs.map((s) => s.name) },
    );
  }
  throw new CmdletError(
    'UNKNOWN_CMDLET',
    `The term '${name}' is not recognized as the name of a cmdlet, function, script file, or operable program.` +
      (suggestion ? ` Did you mean '${suggestion}'?` : '') +
      ` ${modelled}`,
    'CommandNotFoundException',
    { cmdlet: name, ...(suggestion ? { suggestion } : {}) },
  );
}

/** The parameter `-name` refers to: exact name, else an unambiguous prefix. */
export function resolveParameter(spec: CmdletSpec, name: string): ParameterSpec {
  const lower = name.toLowerCase();
  const all = parametersOf(spec);
  const exact = all.find((p) => p.name.toLowerCase() === lower) ?? all.find((p) => p.aliases?.some((a) => a.toLowerCase() === lower));
  if (exact) return exact;
  const prefixed = all.filter((p) => p.name.toLowerCase().startsWith(lower));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) {
    throw new CmdletError(
      'AMBIGUOUS_PARAMETER',
      `${spec.name} : Parameter cannot be processed because the parameter name '${name}' is ambiguous. Possible matches include: ${prefixed.map((p) => `-${p.name}`).join(' ')}.`,
      `AmbiguousParameter,${spec.name}`,
      { parameter: name, candidates: prefixed.map((p) => p.name) },
    );
  }
  const suggestion = closest(name, spec.parameters.map((p) => p.name));
  throw new CmdletError(
    'UNKNOWN_PARAMETER',
    `${spec.name} : A parameter cannot be found that matches parameter name '${name}'.` +
      (suggestion ? ` Did you mean '-${suggestion}'?` : '') +
      ` Parameters: ${spec.parameters.filter((p) => !p.unsupported).map((p) => `-${p.name}`).join(' ')}.`,
    `NamedParameterNotFound,${spec.name}`,
    { parameter: name, ...(suggestion ? { suggestion } : {}) },
  );
}

/**
 * Binds a line's arguments to the cmdlet's parameters; keys of the result are the parameters' names.
 * With `piped`, the parameters bound from each object piped in are not asked of the line.
 */
export function bind(spec: CmdletSpec, line: CmdletLine, piped = false): Map<string, CmdletValue> {
  const bound = new Map<string, CmdletValue>();
  const set = (parameter: ParameterSpec, value: CmdletValue): void => {
    if (bound.has(parameter.name)) {
      throw new CmdletError(
        'DUPLICATE_PARAMETER',
        `${spec.name} : Cannot bind parameter because parameter '${parameter.name}' is specified more than once.`,
        `ParameterAlreadyBound,${spec.name}`,
        { parameter: parameter.name },
      );
    }
    refuseUnsupported(parameter);
    bound.set(parameter.name, value);
  };
  const refuseUnsupported = (parameter: ParameterSpec): void => {
    if (parameter.unsupported) {
      throw new CmdletError('UNSUPPORTED_PARAMETER', `${spec.name} : -${parameter.name} is not supported here: ${parameter.unsupported}`, `ParameterNotSupported,${spec.name}`, {
        parameter: parameter.name,
      });
    }
  };
  const positional = spec.parameters.filter((p) => p.position !== undefined).sort((a, b) => a.position! - b.position!);
  const args = line.args;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.kind === 'positional') {
      const target = positional.find((p) => !bound.has(p.name));
      if (!target) {
        throw new CmdletError(
          'POSITIONAL_PARAMETER_NOT_FOUND',
          `${spec.name} : A positional parameter cannot be found that accepts argument '${arg.raw}'.`,
          `PositionalParameterNotFound,${spec.name}`,
          { argument: arg.raw },
        );
      }
      set(target, arg.value);
      continue;
    }
    const parameter = resolveParameter(spec, arg.name);
    if (parameter.type === 'switch') {
      if (arg.colon && typeof arg.value !== 'boolean') {
        throw new CmdletError(
          'INVALID_ARGUMENT',
          `${spec.name} : Cannot process argument transformation on parameter '${parameter.name}'. Cannot convert value '${showValue(arg.value ?? null)}' to type 'System.Management.Automation.SwitchParameter'. Use $true or $false.`,
          `ParameterArgumentTransformationError,${spec.name}`,
          { parameter: parameter.name },
        );
      }
      set(parameter, arg.colon ? (arg.value as boolean) : true);
      continue;
    }
    let value = arg.value;
    if (!arg.colon) {
      const next = args[i + 1];
      if (next === undefined || next.kind !== 'positional') {
        throw new CmdletError(
          'MISSING_ARGUMENT',
          `${spec.name} : Missing an argument for parameter '${parameter.name}'. Specify a parameter of type '${parameter.type === 'string' ? 'System.String' : 'System.Object'}' and try again.` +
            (parameter.type === 'value' ? ` (In a POSIX shell, quote '$Null'.)` : ''),
          `MissingArgument,${spec.name}`,
          { parameter: parameter.name, ...(parameter.type === 'value' ? { takesNull: true } : {}) },
        );
      }
      value = next.value;
      i++;
    }
    // A parameter the product does not support is refused as such, whatever its value (an unquoted
    // `ou=x,dc=contoso,dc=com` reads as a list, not a string).
    refuseUnsupported(parameter);
    if (parameter.type === 'string' && typeof value !== 'string') {
      throw new CmdletError(
        'INVALID_ARGUMENT',
        `${spec.name} : Cannot bind parameter '${parameter.name}'. Cannot convert value '${showValue(value ?? null)}' to type 'System.String'.`,
        `CannotConvertArgument,${spec.name}`,
        { parameter: parameter.name },
      );
    }
    set(parameter, value ?? null);
  }
  const missing = spec.parameters.filter((p) => p.required && !bound.has(p.name) && !(piped && p.fromPipeline)).map((p) => p.name);
  if (missing.length > 0) {
    throw new CmdletError(
      'MISSING_PARAMETER',
      `${spec.name} : Cannot process command because of one or more missing mandatory parameters: ${missing.join(' ')}.`,
      `MissingMandatoryParameter,${spec.name}`,
      { parameters: missing },
    );
  }
  return bound;
}

/** `New-CsPersistentChatEndpoint -SipAddress <String> ... [-WhatIf] [-Confirm]` */
export function syntaxOf(spec: CmdletSpec): string {
  const parts = spec.parameters
    .filter((p) => !p.unsupported)
    .map((p) => {
      const name = p.position !== undefined ? `[-${p.name}]` : `-${p.name}`;
      const text = p.type === 'switch' ? name : `${name} <${p.placeholder ?? 'String'}>`;
      return p.required ? text : `[${text}]`;
    });
  return `${spec.name} ${parts.join(' ')} [<CommonParameters>]`;
}
