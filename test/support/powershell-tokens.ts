/**
 * A PowerShell tokenizer for tests: enough of the language's lexical rules to say, for a script the
 * product writes, which characters PowerShell would read as comments, as string data, and as code.
 *
 * The rules followed (PowerShell Language Specification 3.0, chapter 2, and the tokenizer of PowerShell
 * itself, System.Management.Automation.Language.Tokenizer / CharExtensions):
 * - new lines are CR, LF and CR LF only (§2.2.2); NEL, U+2028 and U+2029 are NOT new lines to PowerShell;
 * - whitespace is space, tab, VT, FF, NBSP, NEL and the Unicode space separators (§2.2.4);
 * - `#` at the start of a token opens a comment to the end of the line; `<#` opens a block comment up to `#>` (§2.2.3);
 * - single-quote characters are ' U+2018 U+2019 U+201A U+201B; a verbatim string opens with any of them and
 *   ends at the first one not followed by another; two in a row stand for the second (§2.3.5.2);
 * - double-quote characters are " U+201C U+201D U+201E; an expandable string runs code (`$(...)`), so any is reported;
 * - dash characters are - U+2013 U+2014 U+2015: one starts a parameter (`-Name`, `-Confirm:`) (§2.3.4);
 * - `$` starts a variable; `| ; & ( ) { } , =` are operators and punctuators; `@'` / `@"` open here-strings.
 * Anything else up to whitespace, a new line or a punctuator is a bare word (a command name or argument).
 */

export type TokenKind = 'newline' | 'comment' | 'string' | 'expandable' | 'herestring' | 'variable' | 'parameter' | 'punct' | 'word';

export interface Token {
  readonly kind: TokenKind;
  /** The source text of the token. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** For a verbatim string, the value PowerShell gives it. */
  readonly value?: string;
}

const isSingleQuote = (c: string | undefined): boolean => c !== undefined && "'\u2018\u2019\u201a\u201b".includes(c);
const isDoubleQuote = (c: string | undefined): boolean => c !== undefined && '"\u201c\u201d\u201e'.includes(c);
const isDash = (c: string | undefined): boolean => c !== undefined && '-\u2013\u2014\u2015'.includes(c);
const isNewLine = (c: string | undefined): boolean => c === '\r' || c === '\n';
const isWhitespace = (c: string | undefined): boolean => c !== undefined && (/[ \t\u000b\u000c\u00a0\u0085]/.test(c) || /\p{Zs}/u.test(c));
const PUNCTUATORS = '|;&(){},=';
const ends = (c: string | undefined): boolean => c === undefined || isNewLine(c) || isWhitespace(c) || PUNCTUATORS.includes(c);

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, start: number, end: number, value?: string): void => {
    tokens.push({ kind, text: source.slice(start, end), start, end, ...(value !== undefined ? { value } : {}) });
  };
  while (i < source.length) {
    const c = source[i]!;
    const start = i;
    if (isWhitespace(c)) {
      i++;
    } else if (isNewLine(c)) {
      i += c === '\r' && source[i + 1] === '\n' ? 2 : 1;
      push('newline', start, i);
    } else if (c === '<' && source[i + 1] === '#') {
      const close = source.indexOf('#>', i + 2);
      i = close < 0 ? source.length : close + 2;
      push('comment', start, i);
    } else if (c === '#') {
      while (i < source.length && !isNewLine(source[i])) i++;
      push('comment', start, i);
    } else if (isSingleQuote(c)) {
      let value = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string at ${start}`);
        const d = source[i]!;
        if (isSingleQuote(d)) {
          if (!isSingleQuote(source[i + 1])) {
            i++;
            break;
          }
          value += source[i + 1];
          i += 2;
        } else {
          value += d;
          i++;
        }
      }
      push('string', start, i, value);
    } else if (isDoubleQuote(c)) {
      i++;
      while (i < source.length && !isDoubleQuote(source[i])) i += source[i] === '`' ? 2 : 1;
      i++;
      push('expandable', start, i);
    } else if (c === '@' && (isSingleQuote(source[i + 1]) || isDoubleQuote(source[i + 1]))) {
      const close = source.indexOf(`\n${source[i + 1]}@`, i);
      i = close < 0 ? source.length : close + 3;
      push('herestring', start, i);
    } else if (c === '$') {
      i++;
      while (i < source.length && /[\w:?]/.test(source[i]!)) i++;
      push('variable', start, i);
    } else if (PUNCTUATORS.includes(c)) {
      i++;
      push('punct', start, i);
    } else if (isDash(c) && /[A-Za-z]/.test(source[i + 1] ?? '')) {
      i++;
      while (i < source.length && /[A-Za-z0-9]/.test(source[i]!)) i++;
      if (source[i] === ':') i++;
      push('parameter', start, i);
    } else {
      // In argument mode a quote inside a word opens a string that is part of the same argument.
      while (!ends(source[i])) {
        const q = source[i];
        if (isSingleQuote(q) || isDoubleQuote(q)) {
          const closes = isSingleQuote(q) ? isSingleQuote : isDoubleQuote;
          i++;
          while (i < source.length && !(closes(source[i]) && !closes(source[i + 1]))) i += closes(source[i]) ? 2 : 1;
        }
        i++;
      }
      push('word', start, i);
    }
  }
  return tokens;
}

/** The statements of a script: its tokens between new lines and `;`, comments left out. */
export function statements(tokens: readonly Token[]): Token[][] {
  const result: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    if (token.kind === 'comment') continue;
    if (token.kind === 'newline' || (token.kind === 'punct' && token.text === ';')) {
      if (current.length > 0) result.push(current);
      current = [];
    } else current.push(token);
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** A statement's shape: its tokens joined by spaces, each verbatim string written `S`. */
export function shapeOf(statement: readonly Token[]): string {
  return statement.map((t) => (t.kind === 'string' ? 'S' : t.text)).join(' ');
}

/** The token that holds the character at `index`, or undefined for whitespace between tokens. */
export function tokenAt(tokens: readonly Token[], index: number): Token | undefined {
  return tokens.find((t) => t.start <= index && index < t.end);
}

/**
 * The runbook's forms: every statement of a runbook must have one of these shapes (values are `S`).
 * Each is a cmdlet line of Microsoft's cmdlet reference, or the one assignment at the top.
 */
export const RUNBOOK_SHAPES: readonly RegExp[] = [
  /^\$ErrorActionPreference = S$/,
  /^Invoke-Command -ComputerName S( , S)* -ScriptBlock \{ Get-Service -DisplayName S \| (Stop|Start)-Service \}$/,
  /^Export-CsPersistentChatData -DBInstance S -FileName S( -Level S( -Scope S( , S)*)?)?$/,
  /^Import-CsPersistentChatData -DBInstance S -FileName S( -WhatIf)?$/,
  /^(Stop|Start)-CsWindowsService -Name S -ComputerName S$/,
  /^Disable-CsUser -Identity S -Confirm: \$false$/,
  /^Enable-CsUser -Identity S -SipAddress S -RegistrarPool S$/,
  /^New-CsPersistentChatEndpoint -SipAddress S -PersistentChatPoolFqdn S( -DisplayName S)?$/,
  /^Remove-CsPersistentChatEndpoint -Identity S -Confirm: \$false$/,
  /^Get-CsPersistentChatEndpoint -Identity S$/,
  /^Get-CsPersistentChatState -Identity S$/,
];

/**
 * What is wrong with a runbook, read as PowerShell reads it: a statement of another shape than
 * RUNBOOK_SHAPES, an expandable string or here-string, or a character of one of `payloads` that
 * PowerShell would read outside a comment or a verbatim string. Empty when the runbook is safe.
 * The inverse lines (commented out, for a rollback) are checked too, as the operator would run them
 * once uncommented.
 */
export function runbookProblems(source: string, payloads: readonly string[] = [], shapes: readonly RegExp[] = RUNBOOK_SHAPES): string[] {
  const problems: string[] = [];
  const tokens = tokenize(source);
  for (const token of tokens) {
    if (token.kind === 'expandable' || token.kind === 'herestring') problems.push(`${token.kind} string ${JSON.stringify(token.text)}`);
  }
  for (const statement of statements(tokens)) {
    const shape = shapeOf(statement);
    if (!shapes.some((r) => r.test(shape))) problems.push(`statement of no known form: ${JSON.stringify(source.slice(statement[0]!.start, statement.at(-1)!.end))} (${shape})`);
  }
  for (const payload of payloads) {
    for (let at = source.indexOf(payload); at >= 0; at = source.indexOf(payload, at + 1)) {
      for (let k = at; k < at + payload.length; k++) {
        const token = tokenAt(tokens, k);
        if (token && token.kind !== 'comment' && token.kind !== 'string') {
          problems.push(`${JSON.stringify(payload)} at ${at} is read as ${token.kind} ${JSON.stringify(token.text)}`);
          break;
        }
      }
    }
  }
  // The inverses, uncommented: the lines after "# Inverse of step N" up to the next blank line.
  const lines = source.split('\r\n');
  for (let n = 0; n < lines.length; n++) {
    if (!/^# Inverse of step \d+:/.test(lines[n]!)) continue;
    for (let m = n + 1; m < lines.length && lines[m] !== ''; m++) {
      const body = lines[m]!.replace(/^# /, '');
      if (!/^[A-Z][a-z]+-[A-Za-z]+ /.test(body)) continue; // prose, not a commented-out cmdlet
      for (const statement of statements(tokenize(body))) {
        const shape = shapeOf(statement);
        if (!shapes.some((r) => r.test(shape))) problems.push(`inverse line of no known form: ${JSON.stringify(body)} (${shape})`);
      }
    }
  }
  return problems;
}
