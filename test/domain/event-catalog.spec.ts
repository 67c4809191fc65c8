import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVENT_TYPES, UPCASTERS, type LoggedEventType } from '../../src/domain/events';
import { CATALOG_PAGE_PATH, CATALOG_PATH, catalogPage, type EventCatalog, generateCatalog, REQUIRED_FIELDS_PATH, requiredFieldsModule } from '../support/event-catalog';

/**
 * The committed event catalog is what the TypeScript types say, and a change of an event's shape
 * comes with a new version and an upcaster. `WRITE_EVENT_CATALOG=1` (npm run events:catalog)
 * rewrites the committed files instead, after the same version checks.
 */
/**
 * A schema's shape, for comparing versions: what the data may hold, not how the types are named or
 * documented. Definitions are renamed by the order they are first referred to; descriptions dropped.
 */
function shapeOf(schema: Record<string, unknown>): string {
  const definitions = (schema['definitions'] ?? {}) as Record<string, unknown>;
  const names = new Map<string, string>();
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rename);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === 'description' || key === 'definitions' || key === '$schema') continue;
      if (key === '$ref' && typeof item === 'string') {
        const name = decodeURIComponent(item.replace('#/definitions/', ''));
        if (!names.has(name)) {
          names.set(name, `#${names.size}`);
          rename(definitions[name]);
        }
        out[key] = names.get(name);
      } else out[key] = rename(item);
    }
    return out;
  };
  const root = rename(schema);
  const used = [...names.entries()].map(([name, alias]) => [alias, rename(definitions[name])]);
  return JSON.stringify({ root, definitions: used });
}

describe('event catalog', () => {
  jest.setTimeout(60_000);
  const generated = generateCatalog();
  const committed = JSON.parse(fs.readFileSync(CATALOG_PATH, 'utf8')) as EventCatalog;
  const before = new Map(committed.events.map((e) => [e.type, e]));

  it('lists every event type once, with its version and category', () => {
    expect(generated.events.map((e) => e.type)).toEqual(Object.keys(EVENT_TYPES).sort());
    for (const entry of generated.events) {
      expect(entry.version).toBe(EVENT_TYPES[entry.type as LoggedEventType].version);
      expect(entry.schema['type']).toBe('object');
    }
  });

  it('an event whose shape changed has a new version and an upcaster from the old one', () => {
    const problems: string[] = [];
    for (const entry of generated.events) {
      const old = before.get(entry.type);
      if (old === undefined) continue;
      const changed = shapeOf(old.schema) !== shapeOf(entry.schema);
      if (changed && entry.version === old.version) problems.push(`${entry.type}: its data's shape changed but its version is still ${old.version}: bump it in EVENT_TYPES and add an upcaster`);
      if (entry.version < old.version) problems.push(`${entry.type}: version went down from ${old.version} to ${entry.version}`);
    }
    for (const [type, { version }] of Object.entries(EVENT_TYPES)) {
      for (let v = 1; v < version; v++) if (UPCASTERS[type]?.[v] === undefined) problems.push(`${type}: no upcaster from version ${v} to ${v + 1}`);
    }
    expect(problems).toEqual([]);
  });

  it('the committed catalog, its page and the required fields of the read boundary are the generated ones (npm run events:catalog)', () => {
    if (process.env['WRITE_EVENT_CATALOG'] === '1') {
      fs.mkdirSync(path.dirname(CATALOG_PATH), { recursive: true });
      fs.writeFileSync(CATALOG_PATH, `${JSON.stringify(generated, null, 2)}\n`);
      fs.writeFileSync(CATALOG_PAGE_PATH, catalogPage(generated));
      fs.writeFileSync(REQUIRED_FIELDS_PATH, requiredFieldsModule(generated));
    }
    expect(JSON.parse(fs.readFileSync(CATALOG_PATH, 'utf8'))).toEqual(generated);
    expect(fs.readFileSync(CATALOG_PAGE_PATH, 'utf8')).toBe(catalogPage(generated));
    expect(fs.readFileSync(REQUIRED_FIELDS_PATH, 'utf8')).toBe(requiredFieldsModule(generated));
  });
});
