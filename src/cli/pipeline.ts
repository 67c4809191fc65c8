/**
 * Lines as pipelines: a `Get-` cmdlet, the `Where-Object` filters its objects pass, and the
 * `Remove-`/`Set-` cmdlet of the same noun each remaining object is piped into, one command per
 * object. A line of one cmdlet is a pipeline of one stage.
 */
import type { JsonValue } from '../event-store/event-store';
import type { ApiClient } from './api-client';
import { bind, CmdletError, CmdletLine, CmdletScriptBlock, CmdletSpec, CmdletValue, resolveCmdlet, syntaxOf } from './cmdlet-parser';
import {
  DEFINITIONS,
  GlobalOptions,
  LineOptions,
  lineOptions,
  LineStopped,
  Outcome,
  prepareCmdlet,
  PreparedCmdlet,
  renderError,
  RunContext,
  runCmdlet,
  validateBody,
} from './cmdlets';
import { evaluate, FilterExpression, parseFilter, requireProperties } from './filter-expression';

/** `Where-Object` and its aliases: the one cmdlet of PowerShell itself a line may pipe through. */
const WHERE_OBJECT: CmdletSpec = {
  name: 'Where-Object',
  parameters: [{ name: 'FilterScript', type: 'value', required: true, position: 0, placeholder: '{ $_.Property -eq "value" }' }],
};
const WHERE_ALIASES = ['where-object', 'where', '?'];

/**
 * PowerShell 3's comparison form, `Where-Object PoolState -eq FailedOver`, as the script block it
 * stands for (`{$_.PoolState -eq 'FailedOver'}`); undefined for any other form of the line.
 */
function simplifiedWhere(stage: CmdletLine): CmdletScriptBlock | undefined {
  const [property, operator, value, ...rest] = stage.args;
  if (rest.length > 0 || property?.kind !== 'positional' || typeof property.value !== 'string' || !/^[A-Za-z_]\w*$/.test(property.raw)) return undefined;
  if (operator?.kind !== 'named' || !/^[ci]?(eq|ne|like|notlike|match|notmatch|gt|lt|ge|le)$/i.test(operator.name)) return undefined;
  const literal = operator.colon ? operator.value : value?.kind === 'positional' ? value.value : undefined;
  if (literal === undefined || (operator.colon && value !== undefined)) return undefined;
  const text = literal === null ? '$null' : typeof literal === 'boolean' ? (literal ? '$true' : '$false') : typeof literal === 'string' ? `'${literal.replace(/'/g, "''")}'` : undefined;
  return text === undefined ? undefined : { kind: 'scriptblock', text: `$_.${property.raw} -${operator.name} ${text}` };
}

/** `<cmdlet> -?`: its syntax line. */
export function cmdletSyntax(name: string): string {
  if (WHERE_ALIASES.includes(name.toLowerCase())) return syntaxOf(WHERE_OBJECT);
  return syntaxOf(resolveCmdlet(name, DEFINITIONS));
}

/**
 * A pipeline: a query, the Where-Object filters its objects pass, and the Remove-/Set- cmdlet of the
 * same noun each remaining object is piped to (one command per object), or a single cmdlet.
 */
export interface PreparedPipeline {
  readonly kind: 'pipeline';
  readonly cmdlet: string;
  readonly source: Extract<PreparedCmdlet, { kind: 'query' }>;
  readonly filters: readonly FilterExpression[];
  /** Prepares the command for one object piped in. */
  readonly sink?: { readonly cmdlet: string; readonly line: LineOptions; readonly confirm: boolean; prepare(object: Readonly<Record<string, unknown>>): PreparedCmdlet };
  readonly line: LineOptions;
}

export type PreparedLine = PreparedCmdlet | PreparedPipeline;

const nounOf = (cmdlet: string): string => cmdlet.slice(cmdlet.indexOf('-') + 1).toLowerCase();

/** Binds the stages of a line: one cmdlet, or a pipeline of them. Throws CmdletError for a mistake in the line. */
export function prepareLine(stages: readonly CmdletLine[], options: GlobalOptions): PreparedLine {
  const [first, ...rest] = stages;
  if (first === undefined) throw new CmdletError('PARSE_ERROR', 'No cmdlet given.', 'EmptyLine');
  if (WHERE_ALIASES.includes(first.cmdlet.toLowerCase())) {
    throw new CmdletError('PARSE_ERROR', 'Where-Object filters the objects of a cmdlet before it: write Get-... | Where-Object {...}.', 'EmptyPipeElement');
  }
  const head = prepareCmdlet(first, options);
  if (rest.length === 0) return head;
  if (head.kind !== 'query') {
    throw new CmdletError(
      'PIPELINE_NOT_SUPPORTED',
      `${head.cmdlet} writes no objects to the pipeline; only a Get- cmdlet (${DEFINITIONS.filter((d) => d.name.startsWith('Get-')).map((d) => d.name).join(', ')}) can be piped.`,
      'PipelineNotSupported',
      { cmdlet: head.cmdlet },
    );
  }
  const filters: FilterExpression[] = [];
  let sink: PreparedPipeline['sink'];
  for (const [index, stage] of rest.entries()) {
    if (WHERE_ALIASES.includes(stage.cmdlet.toLowerCase())) {
      if (sink) throw new CmdletError('PIPELINE_NOT_SUPPORTED', `${sink.cmdlet} writes no objects; Where-Object must come before it.`, 'PipelineNotSupported');
      const simplified = simplifiedWhere(stage);
      const bound = simplified ? new Map<string, CmdletValue>([['FilterScript', simplified]]) : bind(WHERE_OBJECT, stage);
      const script = bound.get('FilterScript');
      if (!(typeof script === 'object' && script !== null && !Array.isArray(script) && script.kind === 'scriptblock')) {
        throw new CmdletError(
          'UNSUPPORTED_FILTER',
          `Where-Object : the filter must be a script block, e.g. Where-Object {$_.PoolState -eq "FailedOver"}; the comparison form without braces is not read by this product.`,
          'InvalidFilter',
        );
      }
      const expression = parseFilter(script.text, 'pipelineObject', 'Where-Object');
      requireProperties(expression, head.properties, `Where-Object on ${head.cmdlet}`, script.text);
      filters.push(expression);
      continue;
    }
    const definition = resolveCmdlet(stage.cmdlet, DEFINITIONS);
    const piped = definition.parameters.find((p) => p.fromPipeline);
    if (index !== rest.length - 1 || !piped || !/^(Set|Remove)-/i.test(definition.name) || nounOf(definition.name) !== nounOf(head.cmdlet)) {
      const matching = DEFINITIONS.filter((d) => /^(Set|Remove)-/.test(d.name) && nounOf(d.name) === nounOf(head.cmdlet) && d.parameters.some((p) => p.fromPipeline)).map((d) => d.name);
      throw new CmdletError(
        'PIPELINE_NOT_SUPPORTED',
        `${definition.name} cannot take the objects of ${head.cmdlet} from the pipeline here; ` +
          (matching.length > 0 ? `pipe them into ${matching.join(' or ')}, last on the line, or through Where-Object.` : 'filter them with Where-Object.'),
        'PipelineNotSupported',
        { cmdlet: definition.name, from: head.cmdlet },
      );
    }
    const bound = bind(definition, stage, true);
    if (bound.has(piped.name)) {
      // PowerShell binds a piped object only to a parameter the line leaves unbound: with -Identity typed,
      // the objects of the query have nowhere to go, and the line is refused before anything runs.
      throw new CmdletError(
        'PIPELINE_NOT_SUPPORTED',
        `${definition.name} : The input object cannot be bound to any parameters for the command: -${piped.name} is already given on the line, ` +
          `and it is the only parameter that takes the objects of ${head.cmdlet} from the pipeline. ` +
          `Drop -${piped.name} to act on each object piped in, or drop "${head.cmdlet} |" to act on the -${piped.name} alone. Nothing was run.`,
        `InputObjectNotBound,${definition.name}`,
        { parameter: piped.name, cmdlet: definition.name, from: head.cmdlet },
      );
    }
    const lineOfSink = lineOptions(definition.name, bound);
    sink = {
      cmdlet: definition.name,
      line: lineOfSink,
      // A line with -WhatIf changes nothing and asks nothing, -Confirm or not.
      confirm: bound.get('Confirm') === true && bound.get('WhatIf') !== true,
      prepare: (object) => {
        const own = new Map(bound);
        const key = Object.keys(object).find((k) => k.toLowerCase() === piped.name.toLowerCase());
        const value = key === undefined ? undefined : object[key];
        if (typeof value === 'string') own.set(piped.name, value);
        return definition.prepare(own, options);
      },
    };
  }
  return { kind: 'pipeline', cmdlet: sink?.cmdlet ?? head.cmdlet, source: head, filters, ...(sink ? { sink } : {}), line: sink?.line ?? head.line };
}

/** Checks each command a line sends, as the API will, before anything runs (a pipeline's commands depend on what its query finds). */
export async function validateLine(prepared: PreparedLine): Promise<void> {
  if (prepared.kind !== 'pipeline') await validateBody(prepared);
}

/** The line as a dry run: its command, or each command its pipeline would send, with -WhatIf. */
export function asWhatIf(prepared: PreparedLine): PreparedLine {
  if (prepared.kind === 'command') return { ...prepared, whatIf: true };
  if (prepared.kind === 'pipeline' && prepared.sink) {
    const sink = prepared.sink;
    return {
      ...prepared,
      sink: {
        ...sink,
        prepare: (object) => {
          const command = sink.prepare(object);
          return command.kind === 'command' ? { ...command, whatIf: true } : command;
        },
      },
    };
  }
  return prepared;
}

/** What a line did: the outcome of each command it ran (one per object piped into a Set-/Remove- cmdlet). */
export interface LineOutcome {
  readonly outcomes: readonly Outcome[];
  /** The highest log position a command of the line reached. */
  readonly position?: number | undefined;
}

/**
 * Runs a line: a cmdlet, or a pipeline. A pipeline's query runs once; its objects pass the
 * Where-Object filters; each remaining one is sent to the Set-/Remove- cmdlet as its own command,
 * with the same correlation id and reason. A failure after some were applied is a LineStopped
 * listing them (unless the sink's -ErrorAction lets the pipeline go on to the next object).
 */
export async function runLine(prepared: PreparedLine, client: ApiClient, context: RunContext): Promise<LineOutcome> {
  if (prepared.kind !== 'pipeline') {
    const outcome = await runCmdlet(prepared, client, context);
    return { outcomes: [outcome], position: outcome.position };
  }
  const source = await runCmdlet(prepared.source, client, context);
  const objects = source.shown?.objects ?? [];
  const json = Array.isArray(source.shown?.json) ? (source.shown!.json as JsonValue[]) : [];
  const kept = objects.map((object, index) => ({ object, json: json[index] ?? null })).filter(({ object }) => prepared.filters.every((f) => evaluate(f, object)));
  if (!prepared.sink) {
    return { outcomes: [{ lines: [], warnings: [], shown: { objects: kept.map((k) => k.object), json: kept.map((k) => k.json) } }] };
  }
  const outcomes: Outcome[] = [];
  let position: number | undefined = context.minPosition;
  const goOn = prepared.sink.line.errorAction !== undefined && prepared.sink.line.errorAction !== 'Stop';
  for (const { object } of kept) {
    try {
      const command = prepared.sink.prepare(object);
      await validateBody(command);
      const outcome = await runCmdlet(command, client, { ...context, minPosition: position });
      if (outcome.position !== undefined) position = outcome.position;
      outcomes.push(outcome);
    } catch (error) {
      if (error instanceof LineStopped) throw new LineStopped(error.message, [...outcomes, ...error.applied], error.failure);
      if (goOn) {
        outcomes.push({ lines: prepared.sink.line.errorAction === 'Continue' ? [renderError(error, prepared.sink.cmdlet, false)] : [], warnings: [], failed: error });
        continue;
      }
      throw new LineStopped(`${prepared.sink.cmdlet} failed on "${String(object['Identity'] ?? '')}"`, outcomes, error);
    }
  }
  if (kept.length === 0) outcomes.push({ lines: [`${prepared.source.cmdlet} found no objects; ${prepared.sink.cmdlet} had nothing to do.`], warnings: [] });
  return { outcomes, position: position !== context.minPosition ? position : undefined };
}

