import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { JsonValue } from '../event-store/event-store';
import { parsePipeline } from './cmdlet-parser';
import { ACTION_PREFERENCES, ActionPreference, GlobalOptions, LineStopped, Outcome, renderError, renderOutcome } from './cmdlets';
import { CmdletError } from './cmdlet-parser';
import { ApiError } from './api-client';
import { asWhatIf, LineOutcome, PreparedLine, prepareLine, runLine, validateLine } from './pipeline';
import type { ApiClient } from './api-client';

/** One logical line of a script: where it starts, and its text with continuations joined. */
export interface ScriptLine {
  readonly number: number;
  readonly text: string;
}

/**
 * The cmdlet lines of a `.ps1` script: `#` comments and `<# ... #>` blocks dropped, blank lines
 * skipped, a line ending in a backtick continued on the next one.
 */
export function scriptLines(source: string): ScriptLine[] {
  const physical = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  const lines: ScriptLine[] = [];
  let inBlockComment = false;
  let pending: { number: number; text: string } | undefined;
  physical.forEach((raw, index) => {
    let line = raw;
    if (inBlockComment) {
      const end = line.indexOf('#>');
      if (end < 0) return;
      inBlockComment = false;
      line = line.slice(end + 2);
    }
    const start = line.indexOf('<#');
    if (start >= 0 && !pending && line.slice(0, start).trim() === '') {
      const end = line.indexOf('#>', start + 2);
      if (end < 0) {
        inBlockComment = true;
        return;
      }
      line = line.slice(end + 2);
    }
    const trimmed = line.replace(/\s+$/, '');
    const continued = trimmed.endsWith('`');
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    if (pending) pending.text += ` ${body.trim()}`;
    else pending = { number: index + 1, text: body.trim() };
    if (continued) return;
    const text = pending.text.trim();
    if (text !== '' && !text.startsWith('#')) lines.push({ number: pending.number, text });
    pending = undefined;
  });
  if (pending && pending.text.trim() !== '' && !pending.text.trim().startsWith('#')) lines.push({ number: pending.number, text: pending.text.trim() });
  return lines;
}

interface PreparedScriptLine extends ScriptLine {
  readonly prepared: PreparedLine;
}

/** `$ErrorActionPreference = 'Continue'`: the script's default -ErrorAction for the lines after it. */
const PREFERENCE_LINE = /^\$ErrorActionPreference\s*=\s*(["']?)([A-Za-z]+)\1\s*(#.*)?$/i;

/** The line with `errorAction` as its -ErrorAction unless it gives its own. */
function withErrorAction(prepared: PreparedLine, errorAction: ActionPreference | undefined): PreparedLine {
  if (errorAction === undefined || prepared.line.errorAction !== undefined) return prepared;
  const line = { ...prepared.line, errorAction };
  if (prepared.kind !== 'pipeline') return { ...prepared, line };
  return { ...prepared, line, ...(prepared.sink ? { sink: { ...prepared.sink, line: { ...prepared.sink.line, errorAction: prepared.sink.line.errorAction ?? errorAction } } } : {}) };
}

/**
 * Reads and checks every line first (a mistake anywhere: nothing runs), then runs them in order as
 * one batch sharing a correlation id, stopping at the first failure, unless the failing line's
 * `-ErrorAction` (or the script's `$ErrorActionPreference`) is SilentlyContinue, Ignore or Continue:
 * then the batch goes on (Continue shows the error; SilentlyContinue and Ignore do not, though
 * `--json` still reports it).
 */
export async function runScript(
  file: string,
  whatIf: boolean,
  options: GlobalOptions,
  connect: () => Promise<{ client: ApiClient; close(): Promise<void> }>,
): Promise<number> {
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch (error) {
    console.error(`topo run: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return 2;
  }
  const lines = scriptLines(source);
  const prepared: PreparedScriptLine[] = [];
  const problems: { number: number; text: string; json: JsonValue }[] = [];
  let preference: ActionPreference | undefined;
  for (const line of lines) {
    try {
      const assignment = PREFERENCE_LINE.exec(line.text);
      if (assignment) {
        const value = ACTION_PREFERENCES.find((p) => p.toLowerCase() === assignment[2]!.toLowerCase());
        if (!value) throw new Error(`$ErrorActionPreference '${assignment[2]}' is not one of ${ACTION_PREFERENCES.join(', ')}.`);
        preference = value;
        continue;
      }
      let p = withErrorAction(prepareLine(parsePipeline(line.text), options), preference);
      if (whatIf) p = asWhatIf(p);
      await validateLine(p);
      prepared.push({ ...line, prepared: p });
    } catch (error) {
      problems.push({ number: line.number, text: `${file}:${line.number}: ${line.text}\n${renderError(error, cmdletOf(line.text), false)}`, json: { line: line.number, text: line.text, error: errorJson(error) } });
    }
  }
  // What only the stored topology or the run itself shows wrong is checked for every line that parsed,
  // before the first runs, and reported with the lines that did not parse: one report of every line
  // certain to fail (a page's placeholder, a reason the policy asks for, -Confirm with no one to ask).
  let connection: Awaited<ReturnType<typeof connect>>;
  try {
    connection = await connect();
  } catch (error) {
    if (problems.length === 0) throw error;
    if (options.json) console.log(JSON.stringify({ file, ran: false, problems: problems.map((p) => p.json) }, null, 2));
    else console.error(`${problems.map((p) => p.text).join('\n\n')}\n\ntopo run: ${new Set(problems.map((p) => p.number)).size} line(s) of ${file} cannot be run; nothing was run.`);
    return 1;
  }
  try {
    const head = await connection.client.headPosition();
    for (const line of prepared) {
      for (const error of await preRunProblems(line.prepared, connection.client, head, options, whatIf)) {
        problems.push({ number: line.number, text: `${file}:${line.number}: ${line.text}\n${renderError(error, line.prepared.cmdlet, false)}`, json: { line: line.number, text: line.text, error: errorJson(error) } });
      }
    }
  } catch (error) {
    await connection.close();
    throw error;
  }
  if (problems.length > 0) {
    await connection.close();
    problems.sort((a, b) => a.number - b.number);
    const lineCount = new Set(problems.map((p) => p.number)).size;
    if (options.json) console.log(JSON.stringify({ file, ran: false, problems: problems.map((p) => p.json) }, null, 2));
    else console.error(`${problems.map((p) => p.text).join('\n\n')}\n\ntopo run: ${lineCount} line(s) of ${file} cannot be run; nothing was run.`);
    return 1;
  }

  const correlationId = randomUUID();
  const applied: PreparedScriptLine[] = [];
  const report: JsonValue[] = [];
  const passedOver: { line: PreparedScriptLine; error: unknown }[] = [];
  let failed: { line: PreparedScriptLine; error: unknown } | undefined;
  let minPosition: number | undefined;
  // What the batch changed: each command applied (a pipeline sends one per object) and the events it appended.
  let commandsApplied = 0;
  let eventsAppended = 0;
  const count = (outcomes: readonly Outcome[]): void => {
    for (const o of outcomes) {
      if (o.position === undefined || o.failed !== undefined) continue;
      commandsApplied++;
      eventsAppended += o.result?.events.length ?? 0;
    }
  };
  const show = (line: PreparedScriptLine, outcomes: readonly Outcome[]): void => {
    if (options.json) return;
    console.log(`PS ${file}:${line.number}> ${line.text}`);
    for (const outcome of outcomes) {
      const { stdout, stderr } = renderOutcome(outcome, false);
      if (stderr) console.error(stderr);
      if (stdout) console.log(`${stdout}\n`);
    }
  };
  const resultOf = (outcomes: readonly Outcome[]): JsonValue =>
    outcomes.length === 1 && outcomes[0]!.failed === undefined
      ? ((outcomes[0]!.shown?.json ?? outcomes[0]!.result ?? null) as JsonValue)
      : (outcomes.map((o) => (o.failed !== undefined ? { error: errorJson(o.failed) } : (o.shown?.json ?? o.result ?? null))) as JsonValue);
  try {
    for (const line of prepared) {
      let outcome: LineOutcome;
      try {
        outcome = await runLine(line.prepared, connection.client, { reason: options.reason, correlationId, minPosition });
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        const partial = error instanceof LineStopped ? error.applied : [];
        const reached = partial.map((o) => o.position).filter((p): p is number => p !== undefined);
        if (reached.length > 0) {
          minPosition = Math.max(...reached);
          applied.push(line);
        }
        count(partial);
        report.push({ line: line.number, text: line.text, ...(partial.length > 0 ? { result: resultOf(partial) } : {}), error: errorJson(error) });
        show(line, partial);
        const action = line.prepared.line.errorAction;
        // -WarningAction Stop ends the batch whatever -ErrorAction says: the line itself was applied.
        const warningStop = error instanceof LineStopped && error.failure === undefined;
        const goesOn = action === 'Continue' || action === 'SilentlyContinue' || action === 'Ignore';
        if (!warningStop && (whatIf || goesOn)) {
          // A dry run reports what the real run would: a line whose -ErrorAction lets the batch go on is
          // passed over there too (and shown only under Continue); any other failure fails the dry run.
          if (action === 'Continue' || (whatIf && !goesOn)) {
            if (!options.json) console.error(`${file}:${line.number}: ${line.text}\n${renderError(error, line.prepared.cmdlet, false)}`);
          }
          if (goesOn) passedOver.push({ line, error });
          else failed = { line, error };
          continue;
        }
        failed = { line, error };
        break;
      }
      if (outcome.position !== undefined) {
        minPosition = outcome.position;
        applied.push(line);
      }
      count(outcome.outcomes);
      report.push({ line: line.number, text: line.text, result: resultOf(outcome.outcomes) });
      show(line, outcome.outcomes);
      // Objects of a pipeline whose command failed while its -ErrorAction let it go on.
      const failedInside = outcome.outcomes.find((o) => o.failed !== undefined);
      if (failedInside) passedOver.push({ line, error: failedInside.failed });
    }
  } finally {
    await connection.close();
  }

  const notRun = failed && !whatIf ? prepared.slice(prepared.indexOf(failed.line) + 1) : [];
  if (options.json) {
    console.log(
      JSON.stringify(
        {
          file,
          correlationId,
          whatIf,
          lines: report,
          applied: applied.map((l) => ({ line: l.number, text: l.text })),
          commandsApplied,
          eventsAppended,
          failed: failed ? { line: failed.line.number, text: failed.line.text } : null,
          passedOver: passedOver.map((p) => ({ line: p.line.number, text: p.line.text, errorAction: p.line.prepared.line.errorAction ?? null })),
          notRun: notRun.map((l) => ({ line: l.number, text: l.text })),
        },
        null,
        2,
      ),
    );
  } else if (failed && !whatIf) {
    const list = (ls: readonly ScriptLine[]): string => (ls.length === 0 ? '  (none)' : ls.map((l) => `  line ${l.number}: ${l.text}`).join('\n'));
    console.error(
      `topo run: line ${failed.line.number} failed: ${failed.line.text}\n${renderError(failed.error, failed.line.prepared.cmdlet, false)}\n\n` +
        `Already applied (correlation id ${correlationId}):\n${list(applied)}\n` +
        `  (${commandsApplied} command(s) applied, ${eventsAppended} event(s) appended)\nNot run:\n${list(notRun)}`,
    );
  } else if (!failed) {
    if (passedOver.length > 0) {
      console.error(
        `topo run: ${passedOver.length} line(s) failed and the batch went on, as their -ErrorAction asked: ` +
          passedOver.map((p) => `line ${p.line.number} (${p.line.prepared.line.errorAction})`).join(', ') +
          '.',
      );
    }
    console.log(
      whatIf
        ? `topo run: what if: ${prepared.length} line(s) of ${file} checked, each against the topology as it is now ` +
            `(not as the lines before it would leave it); nothing was changed.`
        : `topo run: ${prepared.length} line(s) of ${file} run, ${applied.length} of them changed the topology: ` +
            `${commandsApplied} command(s) applied, ${eventsAppended} event(s) appended (correlation id ${correlationId}).`,
    );
  } else {
    console.error(
      `topo run: what if: some lines of ${file} would fail (above), each checked against the topology as it is now ` +
        `(not as the lines before it would leave it); nothing was changed.`,
    );
  }
  // A line passed over under -ErrorAction Continue is still a failure of the batch; one the administrator
  // silenced (SilentlyContinue, Ignore) is not.
  return failed || passedOver.some((p) => p.line.prepared.line.errorAction === 'Continue') ? 1 : 0;
}

/**
 * What is certain to fail in a line that parsed, found before anything runs: a page's placeholder the
 * stored topology names no object for; `-Confirm` when the input is not a terminal (no one to answer);
 * without --reason/TOPO_REASON, a change the reason policy refuses without one (a dry run of the line
 * says so: refused for a removal, a warning for a command REASON_REQUIRED_FOR lists).
 */
async function preRunProblems(prepared: PreparedLine, client: ApiClient, head: number | undefined, options: GlobalOptions, whatIf: boolean): Promise<unknown[]> {
  const found: unknown[] = [];
  if (prepared.kind === 'command' && prepared.check) {
    try {
      await prepared.check(client, head);
    } catch (error) {
      found.push(error);
    }
  }
  const confirm = prepared.kind === 'command' ? prepared.confirm && !prepared.whatIf : prepared.kind === 'pipeline' ? (prepared.sink?.confirm ?? false) : false;
  if (confirm && !whatIf && !process.stdin.isTTY) {
    found.push(
      new CmdletError(
        'CONFIRMATION_REQUIRED',
        `${prepared.cmdlet} : -Confirm asks for confirmation, but the input is not a terminal. Use -Confirm:$false, or -WhatIf to see what would happen.`,
        `ConfirmationRequired,${prepared.cmdlet}`,
        { parameter: 'Confirm' },
      ),
    );
  }
  if (!whatIf && !options.reason?.trim() && found.length === 0 && (prepared.kind === 'command' || (prepared.kind === 'pipeline' && prepared.sink))) {
    let outcomes: readonly Outcome[] = [];
    try {
      outcomes = (await runLine(asWhatIf(prepared), client, { reason: undefined, correlationId: randomUUID(), minPosition: head })).outcomes;
    } catch (error) {
      const failure = error instanceof LineStopped ? error.failure : error;
      if (failure instanceof ApiError && failure.code === 'REASON_REQUIRED') found.push(failure);
      // Any other failure of the dry run may be what an earlier line of the batch changes: the run shows it.
    }
    for (const outcome of outcomes) {
      const warning = (outcome.result?.warnings ?? []).find((w): w is { code: string; message: string } => typeof w === 'object' && w !== null && (w as { code?: unknown }).code === 'REASON_REQUIRED');
      if (warning) {
        found.push(new ApiError(400, 'REASON_REQUIRED', warning.message.replace(/; this dry run was given none\.$/, '.'), { field: 'reason' }));
        break;
      }
      const failure = outcome.failed;
      if (failure instanceof ApiError && failure.code === 'REASON_REQUIRED') {
        found.push(failure);
        break;
      }
    }
  }
  return found;
}

function errorJson(error: unknown): JsonValue {
  return JSON.parse(renderError(error, undefined, true)).error as JsonValue;
}

function cmdletOf(text: string): string | undefined {
  return /^\s*([A-Za-z]+-[A-Za-z]\w*)/.exec(text)?.[1];
}
