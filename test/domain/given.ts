import { DomainError, type RuleId } from '../../src/domain/errors';
import {
  type Decision,
  type TopologyCommand,
  type TopologyEvent,
  type TopologyState,
  decide,
  foldTopology,
} from '../../src/domain/topology';

type ErrorClass = abstract new (...args: never[]) => DomainError;

export interface ExpectedRefusal {
  readonly rule?: RuleId;
  readonly category?: DomainError['category'];
  readonly field?: string;
}

/**
 * A decider spec: `given(...history).when(command).then(expectedEvents)`, or `.thenWarns(code)`,
 * or `.thenThrows(ErrorClass | code, { rule })`. Each returns what it checked for further asserts.
 */
export function given(...history: (TopologyEvent | readonly TopologyEvent[])[]): { when(command: TopologyCommand): Outcome } {
  return { when: (command) => new Outcome(foldTopology(history.flat()), command) };
}

/** The same, from a state built some other way (e.g. one no command can reach yet). */
export function givenState(state: TopologyState): { when(command: TopologyCommand): Outcome } {
  return { when: (command) => new Outcome(state, command) };
}

export class Outcome {
  constructor(
    readonly state: TopologyState,
    readonly command: TopologyCommand,
  ) {}

  /** The command is accepted and appends exactly `expected`. */
  then(expected: TopologyEvent[]): Decision {
    const decision = this.accepted();
    expect(decision.events).toEqual(expected);
    return decision;
  }

  /** The command is accepted with a warning `code` (and `rule`, when given). */
  thenWarns(code: string, rule?: RuleId): Decision {
    const decision = this.accepted();
    expect(decision.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ code, ...(rule ? { rule } : {}) })]));
    return decision;
  }

  /** The command is accepted without any warning. */
  thenAcceptedWithoutWarnings(): Decision {
    const decision = this.accepted();
    expect(decision.warnings).toEqual([]);
    return decision;
  }

  /** The command is refused with an error of `expected` (a class or a code) carrying `refusal`'s fields. */
  thenThrows(expected: ErrorClass | string, refusal: ExpectedRefusal = {}): DomainError {
    let decision: Decision | undefined;
    let thrown: unknown;
    try {
      decision = decide(this.command, this.state);
    } catch (error) {
      thrown = error;
    }
    if (decision) throw new Error(`expected ${this.command.type} to be refused, but it produced ${JSON.stringify(decision.events)}`);
    if (!(thrown instanceof DomainError)) throw thrown;
    if (typeof expected === 'string') expect(thrown.code).toBe(expected);
    else expect(thrown).toBeInstanceOf(expected);
    if (refusal.rule) {
      expect(thrown.rule).toBe(refusal.rule);
      expect(thrown.details['rule']).toBe(refusal.rule);
      expect(thrown.message).toContain(refusal.rule);
    }
    if (refusal.category) expect(thrown.category).toBe(refusal.category);
    if (refusal.field) expect(thrown.field).toBe(refusal.field);
    // Errors travel as JSON: their details must survive the trip unchanged.
    expect(JSON.parse(JSON.stringify(thrown.details))).toEqual(thrown.details);
    return thrown;
  }

  private accepted(): Decision {
    const decision = decide(this.command, this.state);
    // Every event's data travels as JSON.
    expect(JSON.parse(JSON.stringify(decision.events))).toEqual(decision.events);
    return decision;
  }
}
