import type { RecordedEvent } from '../../src/event-store/event-store';

/**
 * A projection is a pure function from (read model, event) to changes, plus a name and a version.
 * The runner stores the changes and the projection's checkpoint in one SQLite transaction.
 */

export type SqlValue = string | number | null;
export type Row = Readonly<Record<string, SqlValue>>;

/** A read-model table, declared by its projection; the runner creates it (`<projection>_v<version>_<name>`). */
export interface TableSpec {
  readonly name: string;
  /** Columns that identify an entity, e.g. `['deployment', 'sip_address']`. */
  readonly key: readonly string[];
  /** The other columns. */
  readonly columns: readonly string[];
  /**
   * Temporal tables keep every version of a row with the log positions it was valid for
   * (`valid_from` inclusive, `valid_to` exclusive, null while current), so `atPosition` queries are
   * index lookups rather than replays. Non-temporal tables keep the current row only.
   */
  readonly temporal: boolean;
  /**
   * Extra indexes (column lists) for the queries over this table. A build that starts from far
   * behind creates them once it has caught up: filling a table and then indexing it is much faster
   * than keeping the indexes up to date row by row.
   */
  readonly indexes?: readonly (readonly string[])[];
  /** The key is one integer column (such as a log position): the table is stored in its order, as SQLite's rowid. */
  readonly integerKey?: boolean;
  /**
   * One row per event, keyed by its log position (`integerKey`): reads also return the event's
   * `data` and `metadata` as the JSON texts the log holds (columns of those names, not in `columns`).
   * Where the query connection has the log's SQLite file attached they are read from it by position,
   * so the read model holds no second copy of every event; otherwise (a log on EventStoreDB, an
   * in-memory build) the writer stores them with the row.
   */
  readonly eventBody?: boolean;
}

/** The columns an `eventBody` table's reads add: the event's JSON texts. */
export const EVENT_BODY_COLUMNS = ['data', 'metadata'] as const;

export type Change =
  /** Insert or replace the entity's row (key columns included). */
  | { readonly kind: 'put'; readonly table: string; readonly row: Row }
  /** The entity stops existing (on a temporal table: from this event's position on). */
  | { readonly kind: 'delete'; readonly table: string; readonly key: Row };

/** The current read model as the projection sees it, including changes made earlier in the same batch. */
export interface ReadModelView {
  get(table: string, key: Row): Row | undefined;
  /** Current rows whose columns equal `where` (use an indexed prefix of the key or an index). */
  find(table: string, where: Row): Row[];
}

export interface Projection {
  readonly name: string;
  /** Change it whenever `project` or `tables` change: the runner then rebuilds into new tables. */
  readonly version: number;
  readonly tables: readonly TableSpec[];
  /** Must not throw for events it does not care about: return []. A throw stops the projection at that event. */
  project(event: RecordedEvent, view: ReadModelView): readonly Change[];
}

/** Options of a read over a projection's table. */
export interface RowQuery {
  /** The state as of this log position (inclusive); omitted: current. */
  readonly atPosition?: number;
  /** Column = value filters. */
  readonly where?: Row;
  /** Column LIKE pattern filters (SQL LIKE, `%` and `_`, escaped with `\`). */
  readonly like?: Readonly<Record<string, string>>;
  readonly orderBy?: readonly string[];
  readonly descending?: boolean;
  readonly limit?: number;
  /** Extra condition on an integer column: `column > value` (or `<` when descending) for cursor paging. */
  readonly after?: { readonly column: string; readonly value: number };
  /** Ranges on columns: inclusive bounds. */
  readonly range?: Readonly<Record<string, { readonly from?: SqlValue; readonly to?: SqlValue }>>;
}

/** Reads a projection's tables (query side). */
export interface TableReader {
  rows(table: string, query?: RowQuery): Row[];
}
