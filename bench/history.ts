import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DomainError, decide, foldTopology, initialState, parseFqdn, parseSipUri, TopologyCommand, TopologyState } from '../src/domain';
import { auditMetadata, CommandContext, commandFingerprint } from '../src/application/audit';
import type { EventStore, EventToAppend, JsonObject } from '../src/event-store/event-store';
import { HashChainedEventStore } from '../src/event-store/hash-chain';
import { SqliteEventStore } from '../src/event-store/sqlite/sqlite-event-store';

/** A small deterministic generator (mulberry32), so a history can be generated again identically. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fqdn = (value: string) => parseFqdn(value, 'fqdn');
const sip = (value: string) => parseSipUri(value, 'sipAddress');

/** The set-up every deployment starts with: as the seed scenario's organisation. */
function setUp(): TopologyCommand[] {
  return [
    { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
    { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
    { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com'), fqdn('pc2.contoso.com'), fqdn('pc3.contoso.com')] },
    { type: 'StartPool', fqdn: fqdn('pcpool.contoso.com') },
  ];
}

/** The day-to-day mix after set-up: mostly endpoints and users, some removals, pool operations, and refusals. */
function nextCommand(next: () => number, n: number): TopologyCommand {
  const roll = next();
  const someone = Math.floor(next() * Math.max(1, n));
  if (roll < 0.35) return { type: 'CreateEndpoint', sipAddress: sip(`sip:room${n}@contoso.com`), poolFqdn: fqdn('pcpool.contoso.com'), displayName: `Room ${n}` };
  if (roll < 0.6) return { type: 'RegisterSipPrincipal', sipAddress: sip(`sip:user${n}@contoso.com`), kind: 'user', displayName: `User ${n}` };
  if (roll < 0.72) return { type: 'RemoveEndpoint', identity: `sip:room${someone}@contoso.com`, reason: 'room retired' };
  if (roll < 0.8) return { type: 'DeleteSipPrincipal', sipAddress: sip(`sip:user${someone}@contoso.com`), reason: 'user left' };
  if (roll < 0.85) return { type: 'SetPersistentChatState', poolFqdn: fqdn('pcpool.contoso.com'), poolState: next() < 0.5 ? 'FailedOver' : 'Normal' };
  if (roll < 0.9) return { type: 'SetPersistentChatActiveServers', poolFqdn: fqdn('pcpool.contoso.com'), change: { kind: 'swap' } };
  // Mistakes happen: a URI already taken, which the product refuses and records.
  return { type: 'CreateEndpoint', sipAddress: sip('sip:ocschat@contoso.com'), poolFqdn: fqdn('pcpool.contoso.com') };
}

/** Bumped when what the generator writes changes, so that histories kept from an earlier version are written again. */
export const HISTORY_VERSION = 2;

export interface HistoryOptions {
  readonly events: number;
  readonly deployments: number;
  readonly seed?: number;
  /** Deployments written at once (their appends share commits). */
  readonly concurrency?: number;
  readonly onProgress?: (written: number) => void;
  /** When each command happened, from how many events were written before it (default: now). */
  readonly occurredAt?: (written: number) => Date;
}

/**
 * Writes a realistic history of about `events` events spread over `deployments` deployments: each
 * command goes through the real decider, accepted ones append their events with the audit metadata
 * the product writes, refused ones a `CommandRefused` record, as the write side does.
 */
export async function generateHistory(store: EventStore, options: HistoryOptions): Promise<number> {
  const perDeployment = Math.ceil(options.events / options.deployments);
  let written = 0;
  let nextDeployment = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const d = nextDeployment++;
      if (d >= options.deployments || written >= options.events) return;
      const next = random((options.seed ?? 1) * 100_003 + d);
      const deployment = `org${d}`;
      let state: TopologyState = initialState();
      let revision = -1;
      let budget = Math.min(perDeployment, options.events - written);
      const commands = setUp();
      for (let n = 0; budget > 0; n++) {
        const command = commands[n] ?? nextCommand(next, n);
        const commandId = randomUUID();
        const context: CommandContext = {
          actor: next() < 0.7 ? 'CONTOSO\\lync-admin' : 'CONTOSO\\helpdesk',
          roles: ['admin'],
          authenticated: true,
          commandId,
          correlationId: commandId,
          causationId: null,
          reason: 'reason' in command && typeof command.reason === 'string' ? command.reason : null,
          clientAddress: '10.0.4.17',
          occurredAt: (options.occurredAt?.(written) ?? new Date()).toISOString(),
        };
        let events: EventToAppend[];
        let streamId = `topology-${deployment}`;
        let expected: number | 'no_stream' | 'any' = revision < 0 ? 'no_stream' : revision;
        try {
          const decision = decide(command, state);
          state = foldTopology(decision.events, state);
          // The metadata the write side gives its events, warnings (R8's second endpoint on a pool) included.
          const metadata = auditMetadata(context, {
            deployment,
            command: command.type,
            commandFingerprint: commandFingerprint(command.type, deployment, command as unknown as JsonObject),
            warnings: decision.warnings.map((w) => ({ code: w.code, rule: w.rule, message: w.message })),
          });
          events = decision.events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data as unknown as JsonObject, metadata }));
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          streamId = `refused_command-${deployment}`;
          expected = 'any';
          events = [{ id: randomUUID(), type: 'CommandRefused', data: { command: command.type, deployment, input: { sipAddress: 'sip:ocschat@contoso.com' }, status: 409, error: error.toJSON() as unknown as JsonObject }, metadata: auditMetadata(context, { deployment, command: command.type }) }];
        }
        if (events.length === 0) continue;
        const result = await store.appendToStream(streamId, events, { expectedRevision: expected });
        if (streamId.startsWith('topology-')) revision = result.nextExpectedRevision;
        written += events.length;
        budget -= events.length;
        if (written % 50_000 < events.length) options.onProgress?.(written);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 64 }, worker));
  return written;
}

export interface KeptHistoryOptions extends HistoryOptions {
  /** The directory the history is kept in (its own files only: it is emptied before generating). */
  readonly dir: string;
  /** The event store's data directory: `dir` itself or a directory inside it. */
  readonly logDir: string;
  /** What else shapes the history beyond its size (e.g. the months its times span); part of the marker's name. */
  readonly key?: string;
  /** Shown in the progress line. */
  readonly label: string;
}

/**
 * A generated history kept in `dir` for later runs, written again when missing or made by another
 * generator version or shape. It is written through the hash chain, as the product writes: every
 * event carries its hash, which the audit digest takes rather than computing it again.
 */
export async function keptHistory(options: KeptHistoryOptions): Promise<number> {
  const marker = path.join(options.dir, `history-v${HISTORY_VERSION}-chained-${options.events}-${options.deployments}${options.key ? `-${options.key}` : ''}.done`);
  if (fs.existsSync(marker)) return Number(fs.readFileSync(marker, 'utf8'));
  fs.rmSync(options.dir, { recursive: true, force: true });
  const store = new HashChainedEventStore(new SqliteEventStore({ dataDir: options.logDir, synchronous: 'NORMAL' }));
  const start = performance.now();
  const written = await generateHistory(store, {
    ...options,
    onProgress: (n) => process.stderr.write(`\r${options.label}: generating a chained history: ${n.toLocaleString('en')} events`),
  });
  await store.close();
  process.stderr.write(`\r${options.label}: generated ${written.toLocaleString('en')} chained events in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
  fs.writeFileSync(marker, String(written));
  return written;
}
