import { createGenerator } from 'ts-json-schema-generator';
import * as path from 'node:path';
import { EVENT_TYPES, type LoggedEventType } from '../../src/domain/events';

/** The committed catalog: every event type, its current version, its stream category and the JSON Schema of its data. */
export const CATALOG_PATH = path.join(__dirname, '..', '..', 'docs', 'events', 'catalog.json');
export const CATALOG_PAGE_PATH = path.join(__dirname, '..', '..', 'docs', 'events.md');
export const REQUIRED_FIELDS_PATH = path.join(__dirname, '..', '..', 'src', 'domain', 'events', 'required-fields.ts');

type Schema = { [key: string]: unknown };

export interface CatalogEntry {
  readonly type: string;
  readonly version: number;
  readonly category: string;
  /** JSON Schema (draft-07) of the event's `data`, with the definitions it refers to. */
  readonly schema: Schema;
}

export interface EventCatalog {
  readonly format: 'topology-ledger.event-catalog';
  readonly events: readonly CatalogEntry[];
}

/** Generates the catalog from the TypeScript types of `src/domain/events/catalog-types.ts`. */
export function generateCatalog(): EventCatalog {
  const generated = createGenerator({
    path: path.join(__dirname, '..', '..', 'src', 'domain', 'events', 'catalog-types.ts'),
    tsconfig: path.join(__dirname, '..', '..', 'tsconfig.json'),
    type: 'CatalogEvent',
    skipTypeCheck: true,
    additionalProperties: true,
    sortProps: true,
    expose: 'all',
    topRef: true,
    jsDoc: 'extended',
  }).createSchema('CatalogEvent') as Schema;
  const definitions = generated['definitions'] as Record<string, Schema>;
  const union = definitions['CatalogEvent'] ?? definitions['LoggedEvent'];
  const members = resolveUnion(union, definitions);
  const byType = new Map<string, Schema>();
  for (const member of members) {
    const properties = member['properties'] as Record<string, Schema> | undefined;
    const type = properties?.['type']?.['const'];
    const data = properties?.['data'];
    if (typeof type !== 'string' || data === undefined) throw new Error(`a member of the event union has no literal type: ${JSON.stringify(member).slice(0, 200)}`);
    byType.set(type, data);
  }
  const events = (Object.keys(EVENT_TYPES) as LoggedEventType[]).sort().map((type): CatalogEntry => {
    let data = byType.get(type);
    // Data declared as a named type (`data: EndpointData`): the catalog shows its fields in place.
    while (data !== undefined && typeof data['$ref'] === 'string') data = definitions[decodeURIComponent(data['$ref'].replace('#/definitions/', ''))];
    if (data === undefined) throw new Error(`${type} is in EVENT_TYPES but not in the generated union`);
    const used = closure(data, definitions);
    return {
      type,
      version: EVENT_TYPES[type].version,
      category: EVENT_TYPES[type].category,
      schema: { $schema: 'http://json-schema.org/draft-07/schema#', ...data, ...(used.length > 0 ? { definitions: Object.fromEntries(used.map((name) => [name, definitions[name]])) } : {}) },
    };
  });
  if (byType.size !== events.length) throw new Error(`the union has ${byType.size} event types, EVENT_TYPES ${events.length}`);
  return { format: 'topology-ledger.event-catalog', events };
}

function resolveUnion(schema: Schema | undefined, definitions: Record<string, Schema>): Schema[] {
  if (schema === undefined) return [];
  const ref = schema['$ref'];
  if (typeof ref === 'string') return resolveUnion(definitions[ref.replace('#/definitions/', '')], definitions);
  const anyOf = schema['anyOf'];
  if (Array.isArray(anyOf)) return anyOf.flatMap((s: Schema) => resolveUnion(s, definitions));
  const allOf = schema['allOf'];
  if (Array.isArray(allOf)) throw new Error('an event type as an intersection: declare it as one object type');
  return [schema];
}

/** The names of the definitions a schema refers to, directly or through others, sorted. */
function closure(schema: unknown, definitions: Record<string, Schema>): string[] {
  const seen = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') {
        const name = decodeURIComponent(item.replace('#/definitions/', ''));
        if (!seen.has(name)) {
          seen.add(name);
          visit(definitions[name]);
        }
      } else visit(item);
    }
  };
  visit(schema);
  return [...seen].sort();
}

/** The human page: one section per event type, generated from the catalog. */
export function catalogPage(catalog: EventCatalog): string {
  const lines = [
    '# Event catalog',
    '',
    'Every event type the log holds, its current schema version and the JSON Schema of its `data`.',
    'Generated from the TypeScript types by `npm run events:catalog` (do not edit by hand); the',
    'machine-readable form is `docs/events/catalog.json`, also served at `GET /api/events/catalog`.',
    '',
    "An event's metadata carries the version it was written at (`schemaVersion`; none means 1). Readers",
    'bring older versions to the current one with the upcasters of `src/domain/events/upcasters.ts`,',
    'after the hash chain has been checked against the stored text.',
    '',
    '| Event type | Stream category | Version | Fields of `data` |',
    '| --- | --- | --- | --- |',
  ];
  for (const entry of catalog.events) {
    const properties = Object.keys((entry.schema['properties'] as Record<string, unknown> | undefined) ?? {});
    const required = new Set((entry.schema['required'] as string[] | undefined) ?? []);
    const fields = properties.map((p) => (required.has(p) ? `\`${p}\`` : `\`${p}\`?`)).join(', ');
    lines.push(`| ${entry.type} | \`${entry.category}\` | ${entry.version} | ${fields} |`);
  }
  lines.push('', 'A field marked `?` may be absent.', '');
  return lines.join('\n');
}

/** The read boundary's table of the fields each event's data must have, as TypeScript. */
export function requiredFieldsModule(catalog: EventCatalog): string {
  const lines = [
    '/**',
    " * Generated with the event catalog (`npm run events:catalog`): the fields each event's data must",
    ' * have at its current version (null is a value; absent is not). The read boundary checks them.',
    ' */',
    'export const REQUIRED_DATA_FIELDS: { readonly [type: string]: readonly string[] } = {',
    ...catalog.events.map((e) => `  ${e.type}: ${JSON.stringify([...((e.schema['required'] as string[] | undefined) ?? [])].sort()).replace(/"/g, "'").replace(/,/g, ', ')},`),
    '};',
    '',
  ];
  return lines.join('\n');
}
