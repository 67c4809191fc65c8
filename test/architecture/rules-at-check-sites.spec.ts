import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The rule at its check site: where the domain throws an error that names a rule of domain.md, the
 * check that throws it names that rule too (on the condition's line, or in a comment just above it),
 * so that `grep -n R9 src/domain` lands on the check and not only on the error class.
 */
const DOMAIN = path.resolve(__dirname, '..', '..', 'src', 'domain');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && entry.name !== 'errors.ts' ? [full] : [];
  });
}

/** Each error class of errors.ts that always names one rule, and that rule. */
function rulesOfErrors(): Map<string, string> {
  const text = fs.readFileSync(path.join(DOMAIN, 'errors.ts'), 'utf8');
  const rules = new Map<string, string>();
  for (const part of text.split(/\nexport class /).slice(1)) {
    const name = part.split(/\s/)[0]!;
    const named = new Set([...part.matchAll(/rule: '(R\d+)'/g)].map((m) => m[1]!));
    if (named.size === 1) rules.set(name, [...named][0]!);
  }
  return rules;
}

/** The lines that may name the rule of the throw at `index`: the condition's line and the comment lines above it. */
function checkSite(lines: readonly string[], index: number): string[] {
  let condition = index;
  if (!/\bif \(/.test(lines[index]!)) {
    for (let j = index - 1; j >= Math.max(0, index - 3); j--) {
      if (/\bif \(/.test(lines[j]!)) {
        condition = j;
        break;
      }
    }
  }
  const site = [lines[condition]!];
  for (let j = condition - 1; j >= 0 && /^\s*(\/\/|\*|\/\*\*)/.test(lines[j]!); j--) site.push(lines[j]!);
  return site;
}

describe('the rule at its check site', () => {
  const rules = rulesOfErrors();

  it('finds the domain errors that name a rule', () => {
    expect(rules.get('PoolHasEndpoints')).toBe('R9');
    expect(rules.get('PoolStateInvalid')).toBe('R14');
  });

  it('every check that throws a rule-tagged domain error names its rule', () => {
    const missing: string[] = [];
    for (const file of sources(DOMAIN)) {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, index) => {
        const thrown = /throw new (\w+)\(/.exec(line)?.[1];
        const rule = thrown === undefined ? undefined : rules.get(thrown);
        if (rule === undefined) return;
        const cited = checkSite(lines, index).some((text) => new RegExp(`\\b${rule}\\b`).test(text));
        if (!cited) missing.push(`${path.relative(DOMAIN, file)}:${index + 1}: ${thrown} (${rule})`);
      });
    }
    expect(missing).toEqual([]);
  });
});
