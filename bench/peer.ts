/**
 * `npm run bench:peer`: the same event-store workload on this product's SQLite store and on Emmett's,
 * interleaved rounds, medians. Options, workload and results: bench/README.md.
 */
import { STREAM_DOES_NOT_EXIST } from '@event-driven-io/emmett';
import { getSQLiteEventStore, readMessagesBatch, sqliteConnection, type SQLiteEventStore as PeerStore } from '@event-driven-io/emmett-sqlite';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteEventStore } from '../src/event-store/sqlite/sqlite-event-store';
import { PROJECT_ROOT } from '../src/version';
import { argValue, printTable, rawCommitsPerSecond, Row } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const seconds = Number(argValue(args, '--seconds') ?? 3);
const rounds = Number(argValue(args, '--rounds') ?? 3);
const writerCounts = (argValue(args, '--writers') ?? '1,32').split(',').map(Number);
const readEvents = Number(argValue(args, '--events') ?? 100_000);
const baseDir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'peer'));
const STREAMS = 1_000;
const READ_STREAMS = 200;
const PEER_VERSION = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules', '@event-driven-io', 'emmett-sqlite', 'package.json'), 'utf8')) as { version: string }).version;

const progress = (line: string): void => void process.stderr.write(`bench:peer: ${line}\n`);

const eventData = (n: number) => ({ sipAddress: `sip:room${n}@contoso.com`, persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: `Room ${n}` });
const eventMetadata = () => ({ actor: 'bench', commandId: randomUUID(), occurredAt: new Date().toISOString() });

function freshDir(name: string): string {
  const dir = path.join(baseDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** What each store does for one command: append one event to `stream` at the version it knows; returns the next version. */
export interface Target {
  append(stream: string, known: bigint | undefined, n: number): Promise<bigint>;
  close(): Promise<void>;
}

function productTarget(dir: string): Target {
  const store = new SqliteEventStore({ dataDir: dir });
  return {
    async append(stream, known, n) {
      const result = await store.appendToStream(stream, [{ id: randomUUID(), type: 'PersistentChatEndpointCreated', data: eventData(n), metadata: eventMetadata() }], {
        expectedRevision: known === undefined ? 'no_stream' : Number(known),
      });
      return BigInt(result.nextExpectedRevision);
    },
    close: () => store.close(),
  };
}

/**
 * Emmett's store shares one connection between the operations in flight and closes it after each, so
 * concurrent appends in one process break each other (SQLITE_MISUSE, SQLITE_BUSY). Serialized, the
 * writers' commands go through one at a time: the most the peer can do with concurrent callers.
 */
export function peerTarget(dir: string, serialized: boolean): Target {
  const store: PeerStore = getSQLiteEventStore({ fileName: path.join(dir, 'emmett.sqlite') });
  let tail: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    if (!serialized) return work();
    const next = tail.then(work, work);
    tail = next.catch(() => undefined);
    return next;
  };
  return {
    append: (stream, known, n) => inTurn(async () => {
      const result = await store.appendToStream(stream, [{ type: 'PersistentChatEndpointCreated', data: eventData(n), metadata: eventMetadata() }], {
        expectedStreamVersion: known === undefined ? STREAM_DOES_NOT_EXIST : known,
      });
      return result.nextExpectedStreamVersion;
    }),
    close: async () => undefined, // a connection per operation: nothing stays open
  };
}

export interface WriteResult {
  readonly rate: number;
  readonly failures: Record<string, number>;
}

/** W writers for `forSeconds` (default `--seconds`), each appending one event per command to its own streams. */
export async function commandsPerSecond(target: Target, writers: number, forSeconds = seconds): Promise<WriteResult> {
  const deadline = performance.now() + forSeconds * 1000;
  const start = performance.now();
  let count = 0;
  const failures: Record<string, number> = {};
  const perWriter = Math.max(1, Math.floor(STREAMS / writers));
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const versions = new Map<string, bigint>();
      for (let i = 0; performance.now() < deadline; i++) {
        const stream = `endpoint-${w}x${i % perWriter}`;
        try {
          versions.set(stream, await target.append(stream, versions.get(stream), i));
          count++;
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          const key = typeof code === 'string' ? code : error instanceof Error ? error.constructor.name : 'error';
          failures[key] = (failures[key] ?? 0) + 1;
          // SQLITE_BUSY at BEGIN: nothing was written (the peer sets no busy timeout), so the same command is tried again.
          if (key === 'SQLITE_BUSY' && failures[key]! < 1_000) {
            i -= 1;
            continue;
          }
          // Any other error is not expected (every writer owns its streams): the writer stops, and the errors are reported.
          break;
        }
      }
    }),
  );
  return { rate: count / ((performance.now() - start) / 1000), failures };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface ReadResult {
  readonly streamEventsPerSecond: number;
  readonly allEventsPerSecond: number;
}

let peerFillRetries = 0;

async function readFigures(): Promise<{ product: ReadResult; peer: ReadResult }> {
  const perStream = Math.ceil(readEvents / STREAMS);
  const batch = (stream: number) => Array.from({ length: perStream }, (_, i) => ({ type: 'PersistentChatEndpointCreated', data: eventData(stream * perStream + i), metadata: eventMetadata() }));
  const picks = Array.from({ length: READ_STREAMS }, (_, i) => `endpoint-${(i * 7919) % STREAMS}`);

  progress(`read test: filling both stores with ${(perStream * STREAMS).toLocaleString('en')} events over ${STREAMS} streams`);
  const productDir = freshDir('read-product');
  const ours = new SqliteEventStore({ dataDir: productDir, synchronous: 'NORMAL' });
  for (let s = 0; s < STREAMS; s++) await ours.appendToStream(`endpoint-${s}`, batch(s).map((e) => ({ id: randomUUID(), ...e })), { expectedRevision: 'no_stream' });
  const peerDir = freshDir('read-peer');
  const peerFile = path.join(peerDir, 'emmett.sqlite');
  const theirs = getSQLiteEventStore({ fileName: peerFile });
  for (let s = 0; s < STREAMS; s++) {
    // The peer's SQLITE_BUSY (at BEGIN, or at COMMIT with "SQL statements in progress") rolls the append back: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await theirs.appendToStream(`endpoint-${s}`, batch(s), { expectedStreamVersion: STREAM_DOES_NOT_EXIST });
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || attempt >= 100) throw error;
        peerFillRetries += 1;
      }
    }
  }

  const timed = async (work: () => Promise<number>): Promise<number> => {
    const start = performance.now();
    const events = await work();
    return events / ((performance.now() - start) / 1000);
  };
  const product: ReadResult = {
    streamEventsPerSecond: await timed(async () => {
      let n = 0;
      for (const stream of picks) n += (await ours.readStream(stream)).length;
      return n;
    }),
    allEventsPerSecond: await timed(async () => {
      let n = 0;
      for (let from = 0; ; ) {
        const page = await ours.readAll({ fromPosition: from, maxCount: 1_000 });
        if (page.length === 0) return n;
        n += page.length;
        from = page[page.length - 1]!.position + 1;
      }
    }),
  };
  await ours.close();
  const connection = sqliteConnection({ fileName: peerFile });
  const peer: ReadResult = {
    streamEventsPerSecond: await timed(async () => {
      let n = 0;
      for (const stream of picks) n += (await theirs.readStream(stream)).events.length;
      return n;
    }),
    allEventsPerSecond: await timed(async () => {
      let n = 0;
      let after = 0n;
      for (;;) {
        const page = await readMessagesBatch(connection, { after, batchSize: 1_000 });
        n += page.messages.length;
        if (page.messages.length === 0 || !page.areEventsLeft) return n;
        after = page.currentGlobalPosition;
      }
    }),
  };
  connection.close();
  return { product, peer };
}

async function main(): Promise<void> {
  progress(`raw SQLite baseline, then ${rounds} interleaved rounds of ${seconds} s per store and writer count (${writerCounts.join(', ')}) in ${baseDir}`);
  const raw = rawCommitsPerSecond(freshDir('raw'), 2);
  const unserializedFailures = new Map<number, WriteResult>();
  const writes = new Map<number, { product: number[]; peer: number[]; peerFailures: Record<string, number>; productFailures: Record<string, number> }>();
  for (let round = 0; round < rounds; round++) {
    for (const writers of writerCounts) {
      const entry = writes.get(writers) ?? { product: [], peer: [], peerFailures: {}, productFailures: {} };
      const ours = productTarget(freshDir(`product-${writers}`));
      const mine = await commandsPerSecond(ours, writers);
      await ours.close();
      const theirs = peerTarget(freshDir(`peer-${writers}`), writers > 1);
      const peer = await commandsPerSecond(theirs, writers);
      await theirs.close();
      if (round === 0 && writers > 1) {
        // What happens when the same writers call the peer concurrently, unserialized: reported, not ranked.
        const unserialized = await commandsPerSecond(peerTarget(freshDir(`peer-${writers}-unserialized`), false), writers);
        unserializedFailures.set(writers, { rate: unserialized.rate, failures: unserialized.failures });
      }
      entry.product.push(mine.rate);
      entry.peer.push(peer.rate);
      for (const [k, v] of Object.entries(peer.failures)) entry.peerFailures[k] = (entry.peerFailures[k] ?? 0) + v;
      for (const [k, v] of Object.entries(mine.failures)) entry.productFailures[k] = (entry.productFailures[k] ?? 0) + v;
      writes.set(writers, entry);
      progress(`round ${round + 1}, ${writers} writer(s): product ${Math.round(mine.rate)} commands/s, peer ${Math.round(peer.rate)} commands/s`);
    }
  }
  const reads = await readFigures();
  fs.rmSync(baseDir, { recursive: true, force: true });

  const rows: Row[] = [{ figure: 'raw better-sqlite3: INSERT + commit per event, WAL, synchronous=FULL (context)', value: raw, unit: 'events/s' }];
  const figures: Record<string, unknown> = { peer: `@event-driven-io/emmett-sqlite ${PEER_VERSION}`, rawCommitsPerSecond: Math.round(raw), seconds, rounds, readEvents: Math.ceil(readEvents / STREAMS) * STREAMS };
  const notes: string[] = [];
  for (const [writers, entry] of writes) {
    const product = median(entry.product);
    const peer = median(entry.peer);
    const peerLabel = writers > 1 ? `Emmett SQLite, ${writers} writers serialized (it fails when called concurrently)` : 'Emmett SQLite, 1 writer';
    rows.push({ figure: `${peerLabel}: one event per command, expected version (baseline)`, value: peer, unit: 'commands/s' });
    rows.push({ figure: `this product, ${writers} writer(s): the same`, value: product, unit: 'commands/s', ratio: product / peer, target: 10 });
    figures[`writers${writers}`] = {
      productCommandsPerSecond: Math.round(product),
      peerCommandsPerSecond: Math.round(peer),
      ratio: +(product / peer).toFixed(2),
      productRuns: entry.product.map(Math.round),
      peerRuns: entry.peer.map(Math.round),
      peerFailures: entry.peerFailures,
      productFailures: entry.productFailures,
    };
    const unserialized = unserializedFailures.get(writers);
    if (unserialized) {
      figures[`writers${writers}`] = { ...(figures[`writers${writers}`] as object), peerUnserializedCommandsPerSecond: Math.round(unserialized.rate), peerUnserializedFailures: unserialized.failures };
      notes.push(
        `Emmett, ${writers} writers calling it concurrently (not serialized), ${seconds} s: ${Math.round(unserialized.rate)} commands/s before its writers stopped at errors: ` +
          `${JSON.stringify(unserialized.failures)} (its store shares one connection between operations in flight and closes it after each).`,
      );
    }
    if (Object.keys(entry.peerFailures).length > 0) notes.push(`Emmett, ${writers} writer(s): errors ${JSON.stringify(entry.peerFailures)} (SQLITE_BUSY retried; counted commands are the acknowledged ones).`);
    if (Object.keys(entry.productFailures).length > 0) notes.push(`product, ${writers} writers: errors ${JSON.stringify(entry.productFailures)}.`);
  }
  rows.push({ figure: `Emmett SQLite: read a stream (${READ_STREAMS} streams of ${Math.ceil(readEvents / STREAMS)} events) (baseline)`, value: reads.peer.streamEventsPerSecond, unit: 'events/s' });
  rows.push({ figure: 'this product: read a stream, the same', value: reads.product.streamEventsPerSecond, unit: 'events/s', ratio: reads.product.streamEventsPerSecond / reads.peer.streamEventsPerSecond, target: 1 });
  rows.push({ figure: `Emmett SQLite: read all, ${Number(figures['readEvents']).toLocaleString('en')} events in pages of 1,000 (baseline)`, value: reads.peer.allEventsPerSecond, unit: 'events/s' });
  rows.push({ figure: 'this product: read all, the same', value: reads.product.allEventsPerSecond, unit: 'events/s', ratio: reads.product.allEventsPerSecond / reads.peer.allEventsPerSecond, target: 1 });
  printTable(`This product's SQLite event store beside Emmett's (@event-driven-io/emmett-sqlite ${PEER_VERSION}), ${rounds} rounds of ${seconds} s, medians`, rows);
  if (peerFillRetries > 0) notes.push(`Emmett: ${peerFillRetries} SQLITE_BUSY retried while filling the read test's store.`);
  for (const note of notes) console.log(`\n${note}`);
  figures['read'] = {
    productStreamEventsPerSecond: Math.round(reads.product.streamEventsPerSecond),
    peerStreamEventsPerSecond: Math.round(reads.peer.streamEventsPerSecond),
    streamRatio: +(reads.product.streamEventsPerSecond / reads.peer.streamEventsPerSecond).toFixed(2),
    productAllEventsPerSecond: Math.round(reads.product.allEventsPerSecond),
    peerAllEventsPerSecond: Math.round(reads.peer.allEventsPerSecond),
    allRatio: +(reads.product.allEventsPerSecond / reads.peer.allEventsPerSecond).toFixed(2),
  };
  if (json) console.log(JSON.stringify(figures));
}

if (require.main === module) {
  void main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
