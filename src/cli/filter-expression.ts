/**
 * The expressions of a `Where-Object { ... }` script block and of a cmdlet's `-Filter { ... }`:
 * comparisons of an object's properties with literals, joined by `-and`, `-or`, `-not` / `!` and
 * parentheses, as PowerShell evaluates them. Pure: no I/O.
 *
 * Only what a filter on the product's objects needs is read: a property (`$_.PoolState` in a
 * script block, `PoolState` in a -Filter), a literal (`'...'`, `"..."`, a number, `$null`, `$true`,
 * `$false`) and the operators below. Anything else (a method call, a variable, a sub-expression)
 * is refused with the reason, never evaluated to an empty result.
 */
import { CmdletError } from './cmdlet-parser';

export type FilterValue = string | number | boolean | null;

export type FilterExpression =
  | { readonly kind: 'or' | 'and'; readonly left: FilterExpression; readonly right: FilterExpression }
  | { readonly kind: 'not'; readonly operand: FilterExpression }
  | { readonly kind: 'compare'; readonly operator: ComparisonOperator; readonly caseSensitive: boolean; readonly left: Operand; readonly right: Operand }
  | { readonly kind: 'truthy'; readonly operand: Operand };

export type Operand = { readonly kind: 'property'; readonly name: string } | { readonly kind: 'literal'; readonly value: FilterValue };

/** PowerShell's comparison operators this product evaluates (each also with the `c`/`i` prefix). */
export const COMPARISON_OPERATORS = ['eq', 'ne', 'like', 'notlike', 'match', 'notmatch', 'gt', 'lt', 'ge', 'le'] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

type Token =
  | { readonly kind: 'op'; readonly name: string; readonly text: string }
  | { readonly kind: 'property'; readonly name: string; readonly text: string }
  | { readonly kind: 'literal'; readonly value: FilterValue; readonly text: string }
  | { readonly kind: 'paren'; readonly open: boolean; readonly text: string }
  | { readonly kind: 'bang'; readonly text: string };

/** How a filter names properties: `$_.Name` in a Where-Object script block, `Name` in a cmdlet's -Filter. */
export type PropertyStyle = 'pipelineObject' | 'bare';

function refuse(source: string, reason: string, where: string): never {
  throw new CmdletError('UNSUPPORTED_FILTER', `${where}: the filter {${source}} cannot be evaluated: ${reason}`, 'InvalidFilter', { filter: source, reason });
}

function tokenizeFilter(source: string, style: PropertyStyle, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      tokens.push({ kind: 'paren', open: c === '(', text: c });
      i++;
      continue;
    }
    if (c === '!') {
      tokens.push({ kind: 'bang', text: c });
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      for (; j < source.length; j++) {
        const d = source[j]!;
        if (c === '"' && d === '`' && j + 1 < source.length) {
          value += source[++j];
          continue;
        }
        if (d === c) {
          if (source[j + 1] === c) {
            value += c;
            j++;
            continue;
          }
          break;
        }
        value += d;
      }
      if (j >= source.length) refuse(source, `the string at ${i + 1} has no closing ${c}`, where);
      if (c === '"' && /\$[A-Za-z_{(]/.test(value)) refuse(source, `"${value}" expands a variable; the product has no variables, quote it with ' '`, where);
      tokens.push({ kind: 'literal', value, text: source.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    const word = /^[^\s()!]+/.exec(source.slice(i))![0];
    i += word.length;
    if (word.startsWith('-')) {
      tokens.push({ kind: 'op', name: word.slice(1).toLowerCase(), text: word });
    } else if (/^\$(null|true|false)$/i.test(word)) {
      const lower = word.toLowerCase();
      tokens.push({ kind: 'literal', value: lower === '$null' ? null : lower === '$true', text: word });
    } else if (/^[+-]?\d+(\.\d+)?$/.test(word)) {
      tokens.push({ kind: 'literal', value: Number(word), text: word });
    } else if (style === 'pipelineObject' && /^\$(_|PSItem)\.[A-Za-z_]\w*$/i.test(word)) {
      tokens.push({ kind: 'property', name: word.slice(word.indexOf('.') + 1), text: word });
    } else if (style === 'bare' && /^[A-Za-z_]\w*$/.test(word)) {
      tokens.push({ kind: 'property', name: word, text: word });
    } else if (style === 'pipelineObject' && /^[A-Za-z_][\w.:@*-]*$/.test(word) && tokens.length > 0 && tokens[tokens.length - 1]!.kind === 'op') {
      // A bare word after an operator is a string argument, as in `$_.PoolState -eq FailedOver`.
      tokens.push({ kind: 'literal', value: word, text: word });
    } else {
      refuse(
        source,
        `'${word}' is not a property of the objects (${style === 'pipelineObject' ? '$_.<Property>' : '<Property>'}), a literal or an operator`,
        where,
      );
    }
  }
  return tokens;
}

/** Reads a filter's text (without its braces) into an expression; refuses what it cannot evaluate, saying why. */
export function parseFilter(source: string, style: PropertyStyle, where: string): FilterExpression {
  const tokens = tokenizeFilter(source, style, where);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const isOp = (token: Token | undefined, ...names: string[]): boolean => token?.kind === 'op' && names.includes(token.name);

  const operand = (): Operand => {
    const token = tokens[at++];
    if (token?.kind === 'property') return { kind: 'property', name: token.name };
    if (token?.kind === 'literal') return { kind: 'literal', value: token.value };
    return refuse(source, token ? `expected a property or a value, found '${token.text}'` : 'it ends where a value was expected', where);
  };
  const primary = (): FilterExpression => {
    const token = peek();
    if (token?.kind === 'paren' && token.open) {
      at++;
      const inner = or();
      const close = tokens[at++];
      if (!(close?.kind === 'paren' && !close.open)) refuse(source, "a '(' has no matching ')'", where);
      return inner;
    }
    const left = operand();
    const next = peek();
    if (next?.kind === 'op' && !['and', 'or', 'not'].includes(next.name)) {
      at++;
      const match = /^([ci]?)(.+)$/.exec(next.name)!;
      const operator = COMPARISON_OPERATORS.find((o) => o === match[2]) ?? (COMPARISON_OPERATORS.find((o) => o === next.name) as ComparisonOperator | undefined);
      if (!operator) {
        refuse(source, `the operator '${next.text}' is not one the product evaluates (${COMPARISON_OPERATORS.map((o) => `-${o}`).join(' ')}, -and -or -not)`, where);
      }
      const caseSensitive = match[1] === 'c' && COMPARISON_OPERATORS.includes(match[2] as ComparisonOperator);
      const right = operand();
      if ((operator === 'match' || operator === 'notmatch') && right.kind === 'literal') {
        try {
          new RegExp(String(right.value ?? ''));
        } catch (error) {
          refuse(source, `'${String(right.value)}' is not a regular expression: ${(error as Error).message}`, where);
        }
      }
      return { kind: 'compare', operator, caseSensitive, left, right };
    }
    return { kind: 'truthy', operand: left };
  };
  const not = (): FilterExpression => {
    const token = peek();
    if (isOp(token, 'not') || token?.kind === 'bang') {
      at++;
      return { kind: 'not', operand: not() };
    }
    return primary();
  };
  const and = (): FilterExpression => {
    let left = not();
    while (isOp(peek(), 'and')) {
      at++;
      left = { kind: 'and', left, right: not() };
    }
    return left;
  };
  const or = (): FilterExpression => {
    let left = and();
    while (isOp(peek(), 'or')) {
      at++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  if (tokens.length === 0) refuse(source, 'it is empty', where);
  const expression = or();
  if (at < tokens.length) refuse(source, `unexpected '${tokens[at]!.text}'`, where);
  return expression;
}

/** The properties an expression reads. */
export function propertiesOf(expression: FilterExpression): string[] {
  switch (expression.kind) {
    case 'or':
    case 'and':
      return [...propertiesOf(expression.left), ...propertiesOf(expression.right)];
    case 'not':
      return propertiesOf(expression.operand);
    case 'compare':
      return [expression.left, expression.right].flatMap((o) => (o.kind === 'property' ? [o.name] : []));
    case 'truthy':
      return expression.operand.kind === 'property' ? [expression.operand.name] : [];
  }
}

/**
 * Refuses an expression that reads a property the objects do not have (PowerShell would compare
 * it as $null and answer nothing): the reason names the properties there are.
 */
export function requireProperties(expression: FilterExpression, properties: readonly string[], where: string, source: string): void {
  for (const name of propertiesOf(expression)) {
    if (!properties.some((p) => p.toLowerCase() === name.toLowerCase())) {
      refuse(source, `the product does not model the property '${name}'; the objects have ${properties.join(', ')}`, where);
    }
  }
}

/** PowerShell's wildcard (`*`, `?`, `[a-z]`) as a regular expression of the whole text. */
export function wildcardRegExp(pattern: string, caseSensitive = false): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '`' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern.slice(i + 1, end).replace(/[\\^]/g, '\\$&')}]`;
        i = end;
      }
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`, caseSensitive ? 's' : 'is');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function valueOf(operand: Operand, object: Readonly<Record<string, unknown>>): unknown {
  if (operand.kind === 'literal') return operand.value;
  const key = Object.keys(object).find((k) => k.toLowerCase() === operand.name.toLowerCase());
  return key === undefined ? null : object[key];
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

function compare(operator: ComparisonOperator, caseSensitive: boolean, left: unknown, right: unknown): boolean {
  if (Array.isArray(left)) {
    // PowerShell compares a collection element by element: -eq keeps the matches, and is true when any does.
    return left.some((item) => compare(operator, caseSensitive, item, right));
  }
  const fold = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  switch (operator) {
    case 'eq':
    case 'ne': {
      const equal =
        left === null || left === undefined || right === null
          ? (left ?? null) === right
          : typeof left === 'number' || typeof right === 'number'
            ? Number(left) === Number(right)
            : typeof left === 'boolean'
              ? left === (typeof right === 'boolean' ? right : asText(right).toLowerCase() === 'true')
              : fold(asText(left)) === fold(asText(right));
      return operator === 'eq' ? equal : !equal;
    }
    case 'like':
    case 'notlike': {
      const matched = wildcardRegExp(asText(right), caseSensitive).test(asText(left));
      return operator === 'like' ? matched : !matched;
    }
    case 'match':
    case 'notmatch': {
      let pattern: RegExp;
      try {
        pattern = new RegExp(asText(right), caseSensitive ? '' : 'i');
      } catch (error) {
        throw new CmdletError('UNSUPPORTED_FILTER', `-${operator}: '${asText(right)}' is not a regular expression: ${(error as Error).message}`, 'InvalidFilter');
      }
      const matched = pattern.test(asText(left));
      return operator === 'match' ? matched : !matched;
    }
    default: {
      if (left === null || left === undefined) return operator === 'lt' || operator === 'le' ? right !== null : right === null && operator === 'ge';
      const numeric = typeof left === 'number' || (typeof right === 'number' && !Number.isNaN(Number(left)));
      const order = numeric ? Number(left) - Number(right) : fold(asText(left)).localeCompare(fold(asText(right)), 'en');
      return operator === 'gt' ? order > 0 : operator === 'lt' ? order < 0 : operator === 'ge' ? order >= 0 : order <= 0;
    }
  }
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== false && value !== 0 && value !== '';
}

/** Whether `object` passes the filter. */
export function evaluate(expression: FilterExpression, object: Readonly<Record<string, unknown>>): boolean {
  switch (expression.kind) {
    case 'or':
      return evaluate(expression.left, object) || evaluate(expression.right, object);
    case 'and':
      return evaluate(expression.left, object) && evaluate(expression.right, object);
    case 'not':
      return !evaluate(expression.operand, object);
    case 'truthy':
      return truthy(valueOf(expression.operand, object));
    case 'compare':
      return compare(expression.operator, expression.caseSensitive, valueOf(expression.left, object), valueOf(expression.right, object));
  }
}
