import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A benchmark figure; `ratio` is against the baseline measured in the same run, `target` the goal for it. */
export interface Row {
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  readonly ratio?: number;
  readonly target?: number;
  /** An absolute floor the value must also reach (e.g. 200,000 events/s). */
  readonly floor?: number;
}

export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Prints rows as a markdown table with a verdict per target. */
export function printTable(title: string, rows: readonly Row[]): void {
  const lines = [`### ${title}`, '', '| figure | value | ratio to baseline | target | met |', '|---|---:|---:|---:|:---:|'];
  for (const row of rows) {
    const value = `${Math.round(row.value).toLocaleString('en')} ${row.unit}`;
    // A baseline that measured nothing (rate 0) gives no ratio rather than "Infinity×".
    const ratio = row.ratio === undefined || !Number.isFinite(row.ratio) ? '' : `${row.ratio.toFixed(2)}×`;
    const targets = [row.target === undefined ? '' : `≥ ${row.target}×`, row.floor === undefined ? '' : `≥ ${row.floor.toLocaleString('en')} ${row.unit}`]
      .filter(Boolean)
      .join(', ');
    const met =
      row.target === undefined && row.floor === undefined
        ? ''
        : (row.ratio === undefined || row.target === undefined || row.ratio >= row.target) && (row.floor === undefined || row.value >= row.floor)
          ? 'yes'
          : 'NO';
    lines.push(`| ${row.figure} | ${value} | ${ratio} | ${targets} | ${met} |`);
  }
  console.log(lines.join('\n'));
}

/**
 * The baseline of durable writes on this disk: one INSERT and one commit per event, WAL,
 * synchronous=FULL, in a fresh file in `dir`, for `seconds`.
 */
export function rawCommitsPerSecond(dir: string, seconds: number): number {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'raw.sqlite');
  removeSqliteFiles(file);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, revision INTEGER, event_id TEXT, type TEXT, data TEXT, metadata TEXT, created INTEGER)');
  const insert = db.prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const data = JSON.stringify({ sipAddress: 'sip:persistentchat@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Legacy chat' });
  const metadata = JSON.stringify({ actor: 'bench', commandId: randomUUID(), occurredAt: new Date().toISOString() });
  const commitOne = db.transaction((i: number) => insert.run('topology-bench', i, randomUUID(), 'PersistentChatEndpointCreated', data, metadata, Date.now()));
  let count = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  while (performance.now() < deadline) commitOne(count++);
  const rate = count / ((performance.now() - start) / 1000);
  db.close();
  return rate;
}

/** Removes a SQLite database file with its write-ahead log and shared-memory index. */
export function removeSqliteFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}
