import Database from 'better-sqlite3';
import { Observable, Subject } from 'rxjs';
import { EventStoreUnavailable, type EventFilter, type JsonObject, type RecordedEvent, type SubscribeToAllOptions } from '../event-store';

/**
 * Reading the SQLite log forwards and following it live: what the store's own subscriptions and the
 * read models' thread (`SqliteLogReader`, with its own read-only connection) have in common.
 */

/** Rows are read as arrays (better-sqlite3's raw mode): building row objects first costs a third of a full read. */
export type EventRow = [position: number, streamId: string, revision: number, id: string, type: string, data: string, metadata: string, created: number];

export const EVENT_COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata, created';

/** Events a subscription reads at a time. */
const PAGE = 1000;

export function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row[3],
    streamId: row[1],
    revision: row[2],
    position: row[0],
    type: row[4],
    data: JSON.parse(row[5]) as JsonObject,
    metadata: row[6] === '{}' ? {} : (JSON.parse(row[6]) as JsonObject),
    created: new Date(row[7]),
  };
}

export function rawRows<P extends unknown[]>(statement: Database.Statement<P, unknown>): Database.Statement<P, EventRow> {
  return statement.raw(true) as unknown as Database.Statement<P, EventRow>;
}

/** Reads the log's rows by position, with an optional filter; statements are prepared once per shape. */
export class EventRows {
  private readonly statements = new Map<string, Database.Statement<unknown[], EventRow>>();

  constructor(private readonly db: Database.Database) {}

  read(op: '>' | '>=' | '<=', from: number, maxCount: number, filter: EventFilter | undefined, backwards = false): EventRow[] {
    const types = filter?.eventTypes ?? [];
    const prefixes = filter?.streamPrefixes ?? [];
    const key = `${op}|${types.length}|${prefixes.length}|${filter?.eventTypes ? 1 : 0}|${filter?.streamPrefixes ? 1 : 0}|${backwards ? 1 : 0}`;
    let stmt = this.statements.get(key);
    if (!stmt) {
      const where = [`position ${op} ?`];
      if (filter?.eventTypes) where.push(types.length ? `type IN (${types.map(() => '?').join(', ')})` : '0');
      if (filter?.streamPrefixes) {
        where.push(prefixes.length ? `(${prefixes.map(() => 'substr(stream_id, 1, ?) = ?').join(' OR ')})` : '0');
      }
      stmt = rawRows(this.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY position ${backwards ? 'DESC' : 'ASC'} LIMIT ?`));
      this.statements.set(key, stmt);
    }
    const params: unknown[] = [from, ...types];
    for (const prefix of prefixes) params.push(prefix.length, prefix);
    params.push(maxCount);
    return stmt.all(...params);
  }
}

/**
 * Catch-up from `options.fromPosition`, then live: each `wake` reads what follows the last event
 * emitted. Always reading strictly after the last emitted position is what makes the catch-up to live
 * switch free of gaps and duplicates: there is no separate live channel to merge.
 */
export function followLog(
  rows: EventRows,
  wake: Observable<void>,
  options: SubscribeToAllOptions,
  isClosed: () => boolean,
  watch: { acquire(): void; release(): void },
): Observable<RecordedEvent> {
  return new Observable<RecordedEvent>((subscriber) => {
    let checkpoint = options.fromPosition ?? 0;
    let pumping = false;
    let wanted = false;
    let timer: NodeJS.Immediate | undefined;
    const pump = (): void => {
      if (subscriber.closed) return;
      if (pumping) {
        wanted = true;
        return;
      }
      pumping = true;
      try {
        const page = rows.read('>', checkpoint, PAGE, options.filter);
        for (const row of page) {
          if (subscriber.closed) return;
          checkpoint = row[0];
          subscriber.next(toRecorded(row));
        }
        if (page.length === PAGE) wanted = true;
      } catch (error) {
        subscriber.error(isClosed() ? new EventStoreUnavailable('event store closed') : error);
        return;
      } finally {
        pumping = false;
      }
      if (wanted) {
        wanted = false;
        timer = setImmediate(pump);
      }
    };
    const live = wake.subscribe(() => pump());
    watch.acquire();
    timer = setImmediate(pump);
    return () => {
      live.unsubscribe();
      if (timer) clearImmediate(timer);
      watch.release();
    };
  });
}

/**
 * Commits by other connections (another process, such as the CLI on the same DATA_DIR, or another
 * thread) are seen through SQLite's data_version, polled while anyone follows the log.
 */
export class DataVersionWatch {
  private followers = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly intervalMs: number,
    private readonly changed: () => void,
  ) {}

  acquire(): void {
    this.followers += 1;
    if (this.timer || this.closed) return;
    this.lastVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.timer = setInterval(() => {
      if (this.closed) return;
      const version = this.db.pragma('data_version', { simple: true }) as number;
      if (version !== this.lastVersion) {
        this.lastVersion = version;
        this.changed();
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  release(): void {
    this.followers -= 1;
    if (this.followers === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The log read through a read-only connection of its own, for a thread that follows it (the read
 * models' thread): what the projection engine needs of the event store, and nothing that writes.
 * It learns of commits from `wake()` (the writing process's notification) and from data_version.
 */
export class SqliteLogReader {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly rows: EventRows;
  private readonly head: Database.Statement<[], { position: number | null }>;
  private readonly wake$ = new Subject<void>();
  private readonly watch: DataVersionWatch;
  private closed = false;

  constructor(file: string, pollIntervalMs = 200) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.rows = new EventRows(this.db);
    this.head = this.db.prepare('SELECT max(position) AS position FROM events');
    this.watch = new DataVersionWatch(this.db, pollIntervalMs, () => this.wake$.next());
  }

  /** There are new commits to read. */
  wake(): void {
    if (!this.closed) this.wake$.next();
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Observable<RecordedEvent> {
    return followLog(this.rows, this.wake$, options, () => this.closed, this.watch);
  }

  async headPosition(): Promise<number> {
    if (this.closed) throw new EventStoreUnavailable('event log reader is closed');
    return this.head.get()?.position ?? 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch.close();
    this.wake$.complete();
    this.db.close();
  }
}
