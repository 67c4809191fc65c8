import Database from 'better-sqlite3';
import type { Change, Projection, ReadModelView, Row, RowQuery, SqlValue, TableReader, TableSpec } from './projection';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function identifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`${what} '${name}' must match ${IDENTIFIER}`);
  return name;
}

/** The physical tables of one build (generation) of a projection: `<projection>_g<generation>_<table>`. */
export class ProjectionTables {
  private readonly specs = new Map<string, TableSpec>();

  constructor(
    readonly projection: Projection,
    readonly generation: number,
  ) {
    identifier(projection.name, 'projection name');
    for (const spec of projection.tables) {
      identifier(spec.name, 'table name');
      for (const column of [...spec.key, ...spec.columns]) identifier(column, `column of ${spec.name}`);
      this.specs.set(spec.name, spec);
    }
  }

  physical(table: string): string {
    this.spec(table);
    return `${this.projection.name}_g${this.generation}_${table}`;
  }

  spec(table: string): TableSpec {
    const spec = this.specs.get(table);
    if (!spec) throw new Error(`projection ${this.projection.name} has no table '${table}'`);
    return spec;
  }

  all(): TableSpec[] {
    return [...this.specs.values()];
  }

  ddl(): string[] {
    const statements: string[] = [];
    for (const spec of this.all()) {
      const name = this.physical(spec.name);
      const columns = [...spec.key, ...spec.columns];
      if (spec.temporal) {
        statements.push(
          `CREATE TABLE IF NOT EXISTS ${name} (${columns.join(', ')}, valid_from INTEGER NOT NULL, valid_to INTEGER, PRIMARY KEY (${[...spec.key, 'valid_from'].join(', ')}))`,
          `CREATE UNIQUE INDEX IF NOT EXISTS ${name}__current ON ${name} (${spec.key.join(', ')}) WHERE valid_to IS NULL`,
        );
      } else {
        statements.push(`CREATE TABLE IF NOT EXISTS ${name} (${columns.join(', ')}, PRIMARY KEY (${spec.key.join(', ')}))`);
      }
      (spec.indexes ?? []).forEach((index, i) => {
        for (const column of index) if (!columns.includes(column)) throw new Error(`index column ${column} is not a column of ${spec.name}`);
        statements.push(`CREATE INDEX IF NOT EXISTS ${name}__i${i} ON ${name} (${index.join(', ')})`);
      });
    }
    return statements;
  }

  dropStatements(): string[] {
    return this.all().map((spec) => `DROP TABLE IF EXISTS ${this.physical(spec.name)}`);
  }
}

/** Statements prepared once per SQL text: queries are built from a few shapes, so the cache stays small. */
class StatementCache {
  private readonly statements = new Map<string, Database.Statement<SqlValue[], Row>>();
  constructor(private readonly db: Database.Database) {}

  get(sql: string): Database.Statement<SqlValue[], Row> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<SqlValue[], Row>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function sameRow(a: Row, b: Row, columns: readonly string[]): boolean {
  return columns.every((c) => (a[c] ?? null) === (b[c] ?? null));
}

function valueOf(row: Row, column: string, table: string): SqlValue {
  const value = row[column];
  if (value === undefined) throw new Error(`row for ${table} lacks column ${column}`);
  return value;
}

/**
 * Applies a projection's changes to its tables at a log position, with the temporal semantics of
 * `TableSpec`, and answers the projection's reads (its view includes what it changed before).
 * Used inside the runner's transaction; it never commits by itself.
 */
export class ReadModelWriter implements ReadModelView {
  private readonly statements: StatementCache;

  constructor(
    private readonly db: Database.Database,
    private readonly tables: ProjectionTables,
  ) {
    this.statements = new StatementCache(db);
  }

  get(table: string, key: Row): Row | undefined {
    const spec = this.tables.spec(table);
    const name = this.tables.physical(table);
    const columns = [...spec.key, ...spec.columns];
    const temporal = spec.temporal ? ', valid_from' : '';
    const current = spec.temporal ? ' AND valid_to IS NULL' : '';
    const sql = `SELECT ${columns.join(', ')}${temporal} FROM ${name} WHERE ${spec.key.map((k) => `${k} = ?`).join(' AND ')}${current}`;
    return this.statements.get(sql).get(...spec.key.map((k) => valueOf(key, k, table)));
  }

  find(table: string, where: Row): Row[] {
    const spec = this.tables.spec(table);
    const columns = [...spec.key, ...spec.columns];
    const keys = Object.keys(where);
    for (const k of keys) if (!columns.includes(k)) throw new Error(`${table} has no column ${k}`);
    const conditions = [...keys.map((k) => `${k} = ?`), ...(spec.temporal ? ['valid_to IS NULL'] : [])];
    const sql = `SELECT ${columns.join(', ')} FROM ${this.tables.physical(table)}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''}`;
    return this.statements.get(sql).all(...keys.map((k) => where[k] ?? null));
  }

  apply(changes: readonly Change[], position: number): void {
    for (const change of changes) {
      if (change.kind === 'put') this.put(change.table, change.row, position);
      else this.remove(change.table, change.key, position);
    }
  }

  private put(table: string, row: Row, position: number): void {
    const spec = this.tables.spec(table);
    const name = this.tables.physical(table);
    const columns = [...spec.key, ...spec.columns];
    const values = columns.map((c) => valueOf(row, c, table));
    if (!spec.temporal) {
      this.statements.get(`INSERT OR REPLACE INTO ${name} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...values);
      return;
    }
    const current = this.get(table, row);
    const keyValues = spec.key.map((k) => valueOf(row, k, table));
    const whereCurrent = `${spec.key.map((k) => `${k} = ?`).join(' AND ')} AND valid_to IS NULL`;
    if (current) {
      if (sameRow(current, row, columns)) return;
      if (current['valid_from'] === position) {
        // Changed twice by one event: only the last version was ever visible.
        const set = spec.columns.map((c) => `${c} = ?`).join(', ');
        if (set) this.statements.get(`UPDATE ${name} SET ${set} WHERE ${whereCurrent}`).run(...spec.columns.map((c) => valueOf(row, c, table)), ...keyValues);
        return;
      }
      this.statements.get(`UPDATE ${name} SET valid_to = ? WHERE ${whereCurrent}`).run(position, ...keyValues);
    }
    this.statements
      .get(`INSERT INTO ${name} (${columns.join(', ')}, valid_from, valid_to) VALUES (${columns.map(() => '?').join(', ')}, ?, NULL)`)
      .run(...values, position);
  }

  private remove(table: string, key: Row, position: number): void {
    const spec = this.tables.spec(table);
    const name = this.tables.physical(table);
    const keyValues = spec.key.map((k) => valueOf(key, k, table));
    const whereKey = spec.key.map((k) => `${k} = ?`).join(' AND ');
    if (!spec.temporal) {
      this.statements.get(`DELETE FROM ${name} WHERE ${whereKey}`).run(...keyValues);
      return;
    }
    const current = this.get(table, key);
    if (!current) return;
    if (current['valid_from'] === position) {
      this.statements.get(`DELETE FROM ${name} WHERE ${whereKey} AND valid_to IS NULL`).run(...keyValues);
    } else {
      this.statements.get(`UPDATE ${name} SET valid_to = ? WHERE ${whereKey} AND valid_to IS NULL`).run(position, ...keyValues);
    }
  }
}

/** The query side of a projection's tables: current rows, or rows as of a log position. */
export class ReadModelReader implements TableReader {
  private readonly statements: StatementCache;

  constructor(
    db: Database.Database,
    private readonly tables: ProjectionTables,
  ) {
    this.statements = new StatementCache(db);
  }

  rows(table: string, query: RowQuery = {}): Row[] {
    const spec = this.tables.spec(table);
    const columns = [...spec.key, ...spec.columns];
    const known = (column: string): string => {
      if (!columns.includes(column)) throw new Error(`${table} has no column ${column}`);
      return column;
    };
    const conditions: string[] = [];
    const params: SqlValue[] = [];
    if (spec.temporal) {
      if (query.atPosition === undefined) conditions.push('valid_to IS NULL');
      else {
        conditions.push('valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)');
        params.push(query.atPosition, query.atPosition);
      }
    }
    for (const [column, value] of Object.entries(query.where ?? {})) {
      if (value === null) conditions.push(`${known(column)} IS NULL`);
      else {
        conditions.push(`${known(column)} = ?`);
        params.push(value);
      }
    }
    for (const [column, pattern] of Object.entries(query.like ?? {})) {
      conditions.push(`${known(column)} LIKE ? ESCAPE '\\'`);
      params.push(pattern);
    }
    for (const [column, bounds] of Object.entries(query.range ?? {})) {
      if (bounds.from !== undefined && bounds.from !== null) {
        conditions.push(`${known(column)} >= ?`);
        params.push(bounds.from);
      }
      if (bounds.to !== undefined && bounds.to !== null) {
        conditions.push(`${known(column)} <= ?`);
        params.push(bounds.to);
      }
    }
    if (query.after) {
      conditions.push(`${known(query.after.column)} ${query.descending ? '<' : '>'} ?`);
      params.push(query.after.value);
    }
    const order = (query.orderBy ?? spec.key).map((c) => `${known(c)}${query.descending ? ' DESC' : ''}`).join(', ');
    let sql = `SELECT ${columns.join(', ')} FROM ${this.tables.physical(table)}`;
    if (conditions.length) sql += ` WHERE ${conditions.join(' AND ')}`;
    sql += ` ORDER BY ${order}`;
    if (query.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(query.limit);
    }
    return this.statements.get(sql).all(...params);
  }
}

/** Opens (creating) the read-model database: derived data, so NORMAL sync (WAL keeps it consistent; a lost tail is replayed). */
export function openReadModelDatabase(file: string, readonly = false): Database.Database {
  const db = new Database(file, readonly ? { readonly: true } : {});
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('busy_timeout = 5000');
  return db;
}
