import * as fs from 'node:fs';
import type { JsonObject } from '../event-store/event-store';
import { ApiError, type Connection } from './api-client';
import { type GlobalOptions, renderError } from './cmdlets';

export const OBSERVE_USAGE = `  observe <file.json|file.xml>            record a snapshot (collect/Get-TopologySnapshot.ps1) or a topology
                                          document (Get-CsTopology -AsXml) and print the drift it shows
  drift [--all]                           the open drift of the deployment (--all: resolved drift too)
  adopt <observationId> [entity ...] --reason TEXT [-WhatIf]
                                          adopt the drift of an observation into the ledger (all of it when no entity is named)`;

interface DriftLine {
  entity: string;
  kind: string;
  ledger?: unknown;
  observed?: unknown;
  fields?: string[] | null;
  status?: string;
  resolution?: string | null;
}

/** One line per drift item; for `differs`, each field's ledger → observed value. */
export function renderDrift(items: readonly DriftLine[]): string {
  if (items.length === 0) return 'No drift: the ledger and the deployment agree.';
  return items
    .map((item) => {
      const status = item.status === 'resolved' ? `  (resolved: ${item.resolution ?? '?'})` : '';
      const head = `${item.kind.padEnd(22)} ${item.entity}${status}`;
      if (item.kind !== 'differs' || !item.fields) return head;
      const ledger = (item.ledger ?? {}) as Record<string, unknown>;
      const observed = (item.observed ?? {}) as Record<string, unknown>;
      return [head, ...item.fields.map((f) => `    ${f}: ${JSON.stringify(ledger[f])} -> ${JSON.stringify(observed[f])}`)].join('\n');
    })
    .join('\n');
}

/** `topo observe FILE`, `topo drift`, `topo adopt ID [ENTITY ...]`. */
export async function runObserve(subcommand: 'observe' | 'drift' | 'adopt', argv: readonly string[], options: GlobalOptions, open: () => Promise<Connection>): Promise<number> {
  const deployment = options.deployment ?? 'default';
  const whatIf = argv.some((a) => /^-whatif(:\$true)?$/i.test(a));
  const words = argv.filter((a) => !/^-whatif(:\$(true|false))?$/i.test(a));
  let document: Buffer | undefined;
  if (subcommand === 'observe') {
    if (words.length !== 1) {
      console.error(`topo observe: usage: topo observe <file.json|file.xml> [--deployment NAME] [--reason TEXT]`);
      return 2;
    }
    try {
      document = fs.readFileSync(words[0]!);
    } catch (error) {
      console.error(`topo observe: cannot read ${words[0]!}: ${(error as Error).message}`);
      return 2;
    }
  }
  if (subcommand === 'adopt' && words.length < 1) {
    console.error(`topo adopt: usage: topo adopt <observationId> [entity ...] --reason TEXT [-WhatIf]`);
    return 2;
  }
  const connection = await open();
  try {
    const { client } = connection;
    let answer: JsonObject;
    let text: string;
    if (subcommand === 'observe') {
      const xml = document!.subarray(0, 64).toString('utf8').trimStart().startsWith('<');
      answer = await client.postDocument(`/api/observations?deployment=${encodeURIComponent(deployment)}`, xml ? 'application/xml' : 'application/json', document!, {
        ...(options.reason ? { 'x-reason': options.reason } : {}),
      });
      const drift = (answer['drift'] ?? []) as unknown as DriftLine[];
      text = `Observation ${String(answer['observationId'])}${answer['recorded'] === false ? ' (the same document was recorded before: nothing new recorded)' : ''}\n${renderDrift(drift)}`;
    } else if (subcommand === 'drift') {
      const head = await client.headPosition();
      answer = await client.query('/api/drift', { deployment, ...(words.includes('--all') ? { all: 'true' } : {}), ...(head !== undefined ? { minPosition: head } : {}) });
      text = renderDrift((answer['drift'] ?? []) as unknown as DriftLine[]);
    } else {
      const [observationId, ...entities] = words;
      answer = (await client.command(
        'AdoptObservedState',
        { deployment, observationId: observationId!, ...(entities.length > 0 ? { entities } : {}) },
        { whatIf, reason: options.reason },
      )) as unknown as JsonObject;
      const events = (answer['events'] ?? []) as unknown as { type: string; streamId: string }[];
      const adopted = (answer['adopted'] ?? []) as unknown as string[];
      text = `${whatIf ? 'What if: would adopt' : 'Adopted'} ${adopted.length} drift item(s) with ${events.length} event(s):\n${events.map((e) => `  ${e.type}  (${e.streamId})`).join('\n')}`;
    }
    console.log(options.json ? JSON.stringify(answer, null, 2) : text);
    return 0;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    console.error(renderError(error, undefined, options.json));
    return 1;
  } finally {
    await connection.close();
  }
}
