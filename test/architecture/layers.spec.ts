import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Imports follow the layers: the read models know no transport, the event store sits below the
 * application, nothing above the port names the SQLite adapter for its errors or its helpers, and
 * what both sides share lives in src/common, which imports nothing of the product.
 */
const ROOT = path.resolve(__dirname, '..', '..');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return sources(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/** The project files a source imports (static, `import()` and `require()`), relative to the root. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    found.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), match[1]!)));
  }
  return found;
}

const FILES = [...sources('src'), ...sources('projections')];

function violations(from: (file: string) => boolean, to: (target: string) => boolean): string[] {
  return FILES.filter(from).flatMap((file) => importsOf(file).filter(to).map((target) => `${file} -> ${target}`));
}

const under = (...prefixes: string[]) => (file: string): boolean => prefixes.some((p) => file === p || file.startsWith(p.endsWith('/') ? p : `${p}`));

describe('imports follow the layers', () => {
  it('read models do not import the HTTP layer', () => {
    expect(violations(under('projections/'), under('src/api/'))).toEqual([]);
  });

  it('read models are fed by the log only: they do not import the application', () => {
    expect(violations(under('projections/'), under('src/application/'))).toEqual([]);
  });

  it('the event store (port and adapters) does not import the application', () => {
    expect(violations(under('src/event-store/'), under('src/application/'))).toEqual([]);
  });

  it('nothing above the port imports the SQLite or EventStoreDB adapter, except the factory and the read models’ private files', () => {
    const above = under('src/api/', 'src/cli/', 'src/application/', 'src/config/', 'projections/', 'src/app', 'src/main');
    const adapters = under('src/event-store/sqlite/', 'src/event-store/esdb/');
    expect(violations(above, adapters)).toEqual([]);
  });

  it('src/common imports nothing of the product outside itself', () => {
    expect(violations(under('src/common/'), (target) => !target.startsWith('src/common/'))).toEqual([]);
  });

  it('the CLI reaches commands without the HTTP layer', () => {
    expect(violations(under('src/cli/'), under('src/api/'))).toEqual([]);
  });

  it('the CLI reaches the domain through the application only', () => {
    expect(violations(under('src/cli/'), under('src/domain/'))).toEqual([]);
  });

  it('the application, which the CLI loads, imports no OpenAPI library: the API derives the document', () => {
    const swagger = FILES.filter(under('src/application/')).filter((file) => /from\s+'@nestjs\/swagger'|require\(\s*'@nestjs\/swagger'/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(swagger).toEqual([]);
  });

  it('the domain imports no other layer, only what every layer shares of refusals and JSON', () => {
    const shared = ['src/common/json', 'src/common/refusal'];
    expect(violations(under('src/domain/'), (target) => !target.startsWith('src/domain/') && !shared.includes(target))).toEqual([]);
  });

  it('the refusals of the application and its edges are not domain errors: they extend Refusal', () => {
    const outside = FILES.filter((file) => !file.startsWith('src/domain/'));
    const misnamed = outside.filter((file) => /extends DomainError\b/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(misnamed).toEqual([]);
  });

  it('the JSON value type is declared once, in src/common/json.ts, which holds types only', () => {
    const declaring = FILES.filter((file) => /export type (JsonValue|DetailValue)\b/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(declaring).toEqual(['src/common/json.ts']);
    expect(fs.readFileSync(path.join(ROOT, 'src/common/json.ts'), 'utf8')).not.toMatch(/^(import|export (const|function|class|let))/m);
  });
});
