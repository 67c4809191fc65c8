import { Refusal, type ErrorDetails, type RuleId } from '../../common/refusal';

/**
 * Refusals of the edge, before a command reaches the domain. They are `Refusal`s, as the domain's
 * errors are, so that one mapping gives every refusal its status by `category` (invalid → 400,
 * not_found → 404) and prints `{ error: error.toJSON() }`; they are not `DomainError`s: no rule of
 * the domain refused.
 */

/** One field of a body that failed the schema: its dotted path (`services.web`) and constraint → message. */
export interface SchemaProblem {
  readonly field: string;
  readonly constraints: Readonly<Record<string, string>>;
}

/** The body is not an object, or fails the command's schema (types, required fields, lengths, enums). */
export class InvalidInput extends Refusal {
  readonly code = 'INVALID_INPUT';
  readonly category = 'invalid';

  /**
   * `rule` defaults to `'schema'` (the shape of the input), which goes into `details.rule`; a domain
   * rule id (`R1`, ...) goes where `Refusal` puts rules.
   */
  constructor(message: string, init: { readonly field?: string; readonly rule?: 'schema' | RuleId; readonly details?: ErrorDetails } = {}) {
    const rule = init.rule ?? 'schema';
    super(message, {
      ...(init.field !== undefined ? { field: init.field } : {}),
      ...(rule !== 'schema' ? { rule } : {}),
      details: { ...(rule === 'schema' ? { rule } : {}), ...init.details },
    });
  }

  /**
   * From the schema problems of a body, first problem first. The message names the first field and
   * its main constraint; `details` is `{ field, rule: 'schema', constraints, errors: [{ field, constraints }] }`.
   */
  static schema(command: string, problems: readonly [SchemaProblem, ...SchemaProblem[]]): InvalidInput {
    const [first] = problems;
    const constraint = mainConstraint(first.constraints);
    const more = problems.length - 1;
    const message =
      `Invalid ${command} body: ${first.constraints[constraint] ?? first.field} (${constraint}).` +
      (more > 0 ? ` ${more} more problem${more === 1 ? '' : 's'} in details.errors.` : '');
    return new InvalidInput(message, {
      field: first.field,
      details: {
        constraints: { ...first.constraints },
        errors: problems.map((problem) => ({ field: problem.field, constraints: { ...problem.constraints } })),
      },
    });
  }

  /** The body is not a JSON object (an array, a string, null, ...). */
  static notAnObject(command: string, received: string): InvalidInput {
    const text = `the body of ${command} must be a JSON object, not ${received}`;
    return new InvalidInput(`Invalid ${command} body: ${text}.`, {
      field: 'body',
      details: { received, constraints: { isObject: text } },
    });
  }
}

/** `POST /api/commands/<name>` with a name no command has. */
export class UnknownCommand extends Refusal {
  readonly code = 'UNKNOWN_COMMAND';
  readonly category = 'not_found';
  readonly suggestion: string | undefined;

  constructor(command: string, knownCommands: readonly string[]) {
    const suggestion = closestName(command, knownCommands);
    const shown = command.length > 100 ? `${command.slice(0, 100)}...` : command;
    super(
      `Unknown command '${shown}'.` +
        (suggestion !== undefined ? ` Did you mean '${suggestion}'?` : ` Known commands: ${knownCommands.join(', ')}.`),
      { details: { command: shown, ...(suggestion !== undefined ? { suggestion } : {}), knownCommands: [...knownCommands] } },
    );
    this.suggestion = suggestion;
  }
}

// Constraints that explain the others (a missing field also fails its type check), shown first.
const LEADING_CONSTRAINTS = ['whitelistValidation', 'isDefined', 'exactlyOneOf'];

function mainConstraint(constraints: Readonly<Record<string, string>>): string {
  return LEADING_CONSTRAINTS.find((key) => key in constraints) ?? Object.keys(constraints)[0] ?? 'schema';
}

/**
 * The candidate closest to `name` by edit distance (ignoring case, a transposition counting as one
 * edit), if it is close enough to be a plausible typo: at most a third of the name's length, and at least 2, edits.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const wanted = name.toLowerCase();
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  // Names longer than any command cannot be a typo of one; bound the work an arbitrary URL can cause.
  if (Math.abs(a.length - b.length) > 64 || a.length > 256) return Math.max(a.length, b.length);
  const width = b.length + 1;
  let beforePrevious = new Array<number>(width).fill(0);
  let previous = Array.from({ length: width }, (_, j) => j);
  let current = new Array<number>(width).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current[j] = value;
    }
    [beforePrevious, previous, current] = [previous, current, beforePrevious];
  }
  return previous[b.length] ?? 0;
}
