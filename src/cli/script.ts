import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { JsonValue } from '../event-store/event-store';
import { ApiError } from './api-client';
import { parseLine } from './cmdlet-parser';
import { GlobalOptions, Outcome, prepareCmdlet, PreparedCmdlet, renderError, renderOutcome, runCmdlet, validateBody } from './cmdlets';
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

interface PreparedLine extends ScriptLine {
  readonly prepared: PreparedCmdlet;
}

/**
 * Reads and checks every line first (a mistake anywhere: nothing runs), then runs them in order as
 * one batch sharing a correlation id, stopping at the first failure.
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
  const prepared: PreparedLine[] = [];
  const problems: string[] = [];
  const problemsJson: JsonValue[] = [];
  for (const line of lines) {
    try {
      let p = prepareCmdlet(parseLine(line.text), options);
      if (whatIf && p.kind === 'command') p = { ...p, whatIf: true };
      await validateBody(p);
      prepared.push({ ...line, prepared: p });
    } catch (error) {
      problems.push(`${file}:${line.number}: ${line.text}\n${renderError(error, cmdletOf(line.text), false)}`);
      problemsJson.push({ line: line.number, text: line.text, error: JSON.parse(renderError(error, undefined, true)).error as JsonValue });
    }
  }
  if (problems.length > 0) {
    if (options.json) console.log(JSON.stringify({ file, ran: false, problems: problemsJson }, null, 2));
    else console.error(`${problems.join('\n\n')}\n\ntopo run: ${problems.length} line(s) of ${file} cannot be run; nothing was run.`);
    return 1;
  }

  const correlationId = randomUUID();
  const applied: PreparedLine[] = [];
  const report: JsonValue[] = [];
  let failed: { line: PreparedLine; error: unknown } | undefined;
  let minPosition: number | undefined;
  const connection = await connect();
  try {
    for (const line of prepared) {
      let outcome: Outcome;
      try {
        outcome = await runCmdlet(line.prepared, connection.client, { reason: options.reason, correlationId, minPosition });
      } catch (error) {
        if (!(error instanceof ApiError) && !(error instanceof Error)) throw error;
        failed = { line, error };
        report.push({ line: line.number, text: line.text, error: JSON.parse(renderError(error, undefined, true)).error as JsonValue });
        if (whatIf) {
          if (!options.json) console.error(`${file}:${line.number}: ${line.text}\n${renderError(error, line.prepared.cmdlet, false)}`);
          continue;
        }
        break;
      }
      if (outcome.position !== undefined) {
        minPosition = outcome.position;
        applied.push(line);
      }
      report.push({ line: line.number, text: line.text, result: (outcome.shown?.json ?? outcome.result ?? null) as JsonValue });
      if (!options.json) {
        const { stdout, stderr } = renderOutcome(outcome, false);
        console.log(`PS ${file}:${line.number}> ${line.text}`);
        if (stderr) console.error(stderr);
        if (stdout) console.log(`${stdout}\n`);
      }
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
          failed: failed ? { line: failed.line.number, text: failed.line.text } : null,
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
        `Already applied (correlation id ${correlationId}):\n${list(applied)}\nNot run:\n${list(notRun)}`,
    );
  } else if (!failed) {
    console.log(
      whatIf
        ? `topo run: what if: ${prepared.length} line(s) of ${file} checked, each against the topology as it is now ` +
            `(not as the lines before it would leave it); nothing was changed.`
        : `topo run: ${prepared.length} line(s) of ${file} run, ${applied.length} change(s) applied (correlation id ${correlationId}).`,
    );
  } else {
    console.error(
      `topo run: what if: some lines of ${file} would fail (above), each checked against the topology as it is now ` +
        `(not as the lines before it would leave it); nothing was changed.`,
    );
  }
  return failed ? 1 : 0;
}

function cmdletOf(text: string): string | undefined {
  return /^\s*([A-Za-z]+-[A-Za-z]\w*)/.exec(text)?.[1];
}
