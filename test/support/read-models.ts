import Database from 'better-sqlite3';
import { ALL_PROJECTIONS } from '../../projections';

/** Every row of every read model in `file` (the serving generation), by logical table: what a user can read. */
export function dumpReadModelFile(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const result: Record<string, unknown[]> = {};
    for (const projection of ALL_PROJECTIONS) {
      const { generation } = db.prepare('SELECT generation FROM projection_active WHERE name = ?').get(projection.name) as { generation: number };
      for (const table of projection.tables) {
        const columns = [...table.key, ...table.columns, ...(table.temporal ? ['valid_from', 'valid_to'] : [])];
        result[`${projection.name}.${table.name}`] = db
          .prepare(`SELECT ${columns.join(', ')} FROM ${projection.name}_g${generation}_${table.name} ORDER BY ${columns.join(', ')}`)
          .raw()
          .all();
      }
    }
    return result;
  } finally {
    db.close();
  }
}
