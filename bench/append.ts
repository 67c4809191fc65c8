/**
 * `npm run bench:append`: the SQLite adapter's writes and `readAll` beside raw better-sqlite3 on the
 * same disk, in one run. Options, figures and results: bench/README.md.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteEventStore } from '../src/event-store/sqlite/sqlite-event-store';
import { PROJECT_ROOT } from '../src/version';
import { argValue, printTable, rawCommitsPerSecond, Row } from './report';

const args = process.argv.slice(2);
const json = args.includes('--json');
const readEvents = Number(argValue(args, '--events') ?? 1_000_000);
const seconds = Number(argValue(args, '--seconds') ?? 2);
const rounds = Number(argValue(args, '--rounds') ?? 3);
const baseDir = path.resolve(argValue(args, '--dir') ?? path.join(PROJECT_ROOT, '.bench-data', 'append'));

const sampleData = { sipAddress: 'sip:persistentchat@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Legacy chat' };
const sampleMetadata = { actor: 'bench', commandId: randomUUID(), occurredAt: new Date().toISOString() };

function freshDir(name: string): string {
  const dir = path.join(baseDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const newEvent = () => ({ id: randomUUID(), type: 'PersistentChatEndpointCreated', data: sampleData, metadata: sampleMetadata });

async function adapterAppendsPerSecond(writers: number): Promise<{ rate: number; perCommit: number }> {
  const store = new SqliteEventStore({ dataDir: freshDir(`adapter-${writers}`) });
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let count = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let revision = 0; performance.now() < deadline; revision++) {
        await store.appendToStream(`endpoint-${w}`, [newEvent()], { expectedRevision: revision === 0 ? 'no_stream' : revision - 1 });
        count++;
      }
    }),
  );
  const rate = count / ((performance.now() - start) / 1000);
  const { commits, appends } = store.stats();
  await store.close();
  return { rate, perCommit: appends / commits };
}

async function readFigures(): Promise<{ adapter: number; raw: number }> {
  const dir = freshDir('read');
  const store = new SqliteEventStore({ dataDir: dir, synchronous: 'NORMAL' });
  const batch = 1000;
  for (let i = 0; i < readEvents; i += batch) {
    const n = Math.min(batch, readEvents - i);
    await store.appendToStream(`stream-${i % 5000}`, Array.from({ length: n }, newEvent), { expectedRevision: 'any' });
  }

  let start = performance.now();
  let read = 0;
  let from = 0;
  for (;;) {
    // Pages of 1,000, as the projection runner reads: larger pages cost more in garbage collection than they save.
    const page = await store.readAll({ fromPosition: from, maxCount: 1_000 });
    if (page.length === 0) break;
    read += page.length;
    from = page[page.length - 1]!.position + 1;
  }
  const adapter = read / ((performance.now() - start) / 1000);
  await store.close();
  if (read !== readEvents) throw new Error(`read ${read} events, expected ${readEvents}`);

  const db = new Database(path.join(dir, 'events.sqlite'), { readonly: true });
  start = performance.now();
  let rawRead = 0;
  const rows = db.prepare('SELECT position, stream_id, revision, event_id, type, data, metadata, created FROM events ORDER BY position');
  for (const row of rows.iterate() as IterableIterator<{ data: string; metadata: string }>) {
    JSON.parse(row.data);
    JSON.parse(row.metadata);
    rawRead++;
  }
  const raw = rawRead / ((performance.now() - start) / 1000);
  db.close();
  return { adapter, raw };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  // The disk's fsync latency drifts on a shared machine: interleaving the runs and taking medians
  // keeps each ratio's two sides under the same conditions.
  const raws: number[] = [];
  const ones: number[] = [];
  const manys: { rate: number; perCommit: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    raws.push(rawCommitsPerSecond(freshDir('raw'), seconds));
    ones.push((await adapterAppendsPerSecond(1)).rate);
    manys.push(await adapterAppendsPerSecond(32));
  }
  const raw = median(raws);
  const one = { rate: median(ones) };
  const many = { rate: median(manys.map((m) => m.rate)), perCommit: median(manys.map((m) => m.perCommit)) };
  const read = await readFigures();
  fs.rmSync(baseDir, { recursive: true, force: true });

  const rows: Row[] = [
    { figure: 'raw better-sqlite3: INSERT + commit per event (baseline)', value: raw, unit: 'events/s' },
    { figure: 'adapter, 1 writer, exact expected revision', value: one.rate, unit: 'appends/s', ratio: one.rate / raw, target: 0.8 },
    { figure: `adapter, 32 writers on 32 streams (${many.perCommit.toFixed(1)} appends/commit)`, value: many.rate, unit: 'appends/s', ratio: many.rate / raw, target: 3 },
    { figure: `raw SELECT + JSON.parse of ${readEvents.toLocaleString('en')} rows (baseline)`, value: read.raw, unit: 'events/s' },
    { figure: `adapter readAll of ${readEvents.toLocaleString('en')} events`, value: read.adapter, unit: 'events/s', ratio: read.adapter / read.raw, target: 0.5, floor: 200_000 },
  ];
  printTable(`Append and read, SQLite file in ${baseDir}`, rows);
  const figures = {
    rawCommitsPerSecond: Math.round(raw),
    singleWriterAppendsPerSecond: Math.round(one.rate),
    singleWriterRatio: +(one.rate / raw).toFixed(3),
    concurrentWritersAppendsPerSecond: Math.round(many.rate),
    concurrentWritersRatio: +(many.rate / raw).toFixed(3),
    appendsPerCommit: +many.perCommit.toFixed(2),
    readAllEventsPerSecond: Math.round(read.adapter),
    rawReadEventsPerSecond: Math.round(read.raw),
    readAllRatio: +(read.adapter / read.raw).toFixed(3),
    readEvents,
    rounds,
    rawRuns: raws.map(Math.round),
    singleWriterRuns: ones.map(Math.round),
  };
  if (json) console.log(JSON.stringify(figures));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
