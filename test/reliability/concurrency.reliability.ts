import * as fs from 'node:fs';
import { parseCommandBody } from '../../src/application/commands/command-registry';
import { decide, DomainError, foldTopology, initialState, type TopologyCommand, type TopologyEvent, type TopologyState } from '../../src/domain';
import { command, seedTopology } from '../support/http';
import { RunningServer, startServer } from '../support/server';
import { envNumber, logShapeProblems, readLog, replayTopologies, StoredEvent, tempDir } from './support';

/**
 * 64 clients race conflicting commands (the same SIP addresses, pools and servers) for
 * RELIABILITY_RACE_SECONDS (30 by default), over two deployments and then all on one deployment
 * (where the commands queued behind a commit are decided and appended together, a group commit). Then the whole log is replayed through the domain
 * with the invariants checked after every event, every 200 is found in the log, and every refusal is
 * shown to be real: the decider, given the topology at some revision the deployment had while the
 * request was in flight, refuses it with the same code; a CONCURRENCY_CONFLICT only where other
 * commands of the deployment were committed meanwhile.
 */

const SECONDS = envNumber('RELIABILITY_RACE_SECONDS', 30);
const CLIENTS = envNumber('RELIABILITY_RACE_CLIENTS', 64);
/** Two deployments, then one: every client on one stream. */
const SCENARIOS: readonly (readonly [string, readonly string[]])[] = [
  ['two deployments', ['race0', 'race1']],
  ['one deployment', ['solo']],
];
const USERS = ['alice', 'bob', 'carol', 'ocschat'];
const POOLS = ['pcpool.contoso.com', 'pcpool2.contoso.com'];
const SERVERS = ['pc3.contoso.com', 'pc4.contoso.com', 'pc5.contoso.com', 'pc6.contoso.com'];

interface Outcome {
  readonly name: string;
  readonly body: Record<string, unknown>;
  readonly deployment: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  readonly code: string | undefined;
  readonly commandId: string | undefined;
  readonly events: number;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

function randomCommand(): { name: string; body: Record<string, unknown> } {
  const sipAddress = `sip:${pick(USERS)}@contoso.com`;
  const roll = Math.random();
  if (roll < 0.2) return { name: 'CreateEndpoint', body: { sipAddress, persistentChatPoolFqdn: pick(POOLS) } };
  if (roll < 0.32) return { name: 'RemoveEndpoint', body: { identity: sipAddress, reason: 'CHG-race' } };
  if (roll < 0.47) return { name: 'RegisterSipPrincipal', body: { sipAddress, kind: pick(['user', 'contact']) } };
  if (roll < 0.57) return { name: 'DeleteSipPrincipal', body: { sipAddress, reason: 'CHG-race' } };
  if (roll < 0.67) return { name: pick(['StartPool', 'StopPool']), body: { fqdn: pick(POOLS) } };
  if (roll < 0.8) return { name: 'AddPersistentChatServer', body: { poolFqdn: pick(POOLS), serverFqdn: pick(SERVERS) } };
  if (roll < 0.9) return { name: 'RemovePersistentChatServer', body: { poolFqdn: pick(POOLS), serverFqdn: pick(SERVERS), reason: 'CHG-race' } };
  if (roll < 0.95) return { name: 'InstallPersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', servers: [pick(SERVERS)] } };
  return { name: 'RemovePersistentChatPool', body: { fqdn: 'pcpool2.contoso.com', reason: 'CHG-race' } };
}

describe.each(SCENARIOS)(`${CLIENTS} clients racing conflicting commands for ${SECONDS} s, %s`, (_label, DEPLOYMENTS) => {
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dataDir = tempDir('race');
    // The race, not the rate limit, is under test: 64 clients as one admin would be throttled (429).
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT: '0' });
    for (const deployment of DEPLOYMENTS) await seedTopology(server.url, deployment);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('breaks no invariant, loses no acknowledged command, and refuses only what was really refused', async () => {
    const outcomes: Outcome[] = [];
    const transportErrors: string[] = [];
    const deadline = Date.now() + SECONDS * 1000;
    const client = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const { name, body } = randomCommand();
        const deployment = pick(DEPLOYMENTS);
        const sentAt = Date.now();
        try {
          const reply = await command(server.url, name, { ...body, deployment });
          const answer = reply.body as { commandId?: string; events?: unknown[]; error?: { code?: string } } | undefined;
          outcomes.push({
            name, body, deployment, sentAt, answeredAt: Date.now(), status: reply.status, code: answer?.error?.code,
            commandId: answer?.commandId, events: answer?.events?.length ?? 0,
          });
        } catch (error) {
          transportErrors.push(String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    expect(transportErrors).toEqual([]);

    const byStatus: Record<string, number> = {};
    for (const o of outcomes) byStatus[`${o.status} ${o.code ?? ''}`.trim()] = (byStatus[`${o.status} ${o.code ?? ''}`.trim()] ?? 0) + 1;
    console.log(`${CLIENTS} clients × ${SECONDS} s: ${outcomes.length} commands, ${(outcomes.length / SECONDS).toFixed(0)}/s; by answer: ${JSON.stringify(byStatus)}`);
    expect(outcomes.filter((o) => o.status >= 500 || ![200, 400, 404, 409].includes(o.status))).toEqual([]);
    // Enough of both for the checks below to mean something, even on a slow machine.
    expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThanOrEqual(20);
    expect(outcomes.filter((o) => o.status !== 200).length).toBeGreaterThanOrEqual(20);

    const log = readLog(dataDir);
    expect(logShapeProblems(log)).toEqual([]);
    expect(replayTopologies(log).violations).toEqual([]);

    // Every acknowledged command is in the log, once, with as many events as it was told.
    const perCommand = new Map<string, number>();
    for (const e of log) {
      const id = e.metadata['commandId'];
      if (typeof id === 'string' && e.streamId.startsWith('topology-')) perCommand.set(id, (perCommand.get(id) ?? 0) + 1);
    }
    const lost = outcomes.filter((o) => o.status === 200 && o.events > 0 && perCommand.get(o.commandId ?? '') !== o.events);
    expect(lost).toEqual([]);

    // The topology at each revision of each deployment, with its commit time.
    const history = new Map<string, { state: TopologyState; created: number }[]>();
    for (const e of log.filter((x: StoredEvent) => x.streamId.startsWith('topology-'))) {
      const states = history.get(e.streamId) ?? [{ state: initialState(), created: 0 }];
      const last = states[states.length - 1]!;
      states.push({ state: foldTopology([{ type: e.type, data: e.data } as unknown as TopologyEvent], last.state), created: e.created });
      history.set(e.streamId, states);
    }
    const unexplained: string[] = [];
    const SLOP_MS = 5;
    for (const o of outcomes.filter((x) => x.status !== 200)) {
      const states = history.get(`topology-${o.deployment}`) ?? [];
      // Candidates: the last revision committed before the request was sent, and every one committed while it was in flight.
      const firstInFlight = states.findIndex((s) => s.created >= o.sentAt - SLOP_MS);
      const from = Math.max(0, (firstInFlight < 0 ? states.length : firstInFlight) - 1);
      const candidates = states.slice(from).filter((s, i) => i === 0 || s.created <= o.answeredAt + SLOP_MS);
      if (o.code === 'CONCURRENCY_CONFLICT') {
        if (candidates.length < 2) unexplained.push(`${o.name} ${JSON.stringify(o.body)}: CONCURRENCY_CONFLICT with no commit meanwhile`);
        continue;
      }
      const { command: parsed } = await parseCommandBody(o.name, { ...o.body, deployment: o.deployment });
      const refusedHere = (state: TopologyState): boolean => {
        try {
          decide(parsed as TopologyCommand, state);
          return false;
        } catch (error) {
          return error instanceof DomainError && error.code === o.code;
        }
      };
      if (!candidates.some((s) => refusedHere(s.state))) unexplained.push(`${o.status} ${o.code ?? ''} for ${o.name} ${JSON.stringify(o.body)} in ${o.deployment}: the decider accepts it at every revision of the window`);
    }
    expect(unexplained.slice(0, 20)).toEqual([]);
  }, SECONDS * 1000 + 240_000);
});
