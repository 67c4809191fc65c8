import { changesText, csvCell, fieldDiffs } from '../../src/api/compliance-report.render';

describe('compliance report rendering', () => {
  it.each([
    ['=1+1'],
    ['+1'],
    ['-1'],
    ['@SUM(A1)'],
    ['\tx'],
    ['\rx'],
    [' =1+1'],
    ['\n=1+1'],
    ['  \n +cmd'],
    ['＝1+1'],
    ['＋1'],
    ['－1'],
    ['＠x'],
    ['\u3000=1'],
  ])('neutralises a cell a spreadsheet would take for a formula: %p', (text) => {
    const cell = csvCell(text);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
    expect(unquoted).toBe(`'${text}`);
  });

  it('leaves ordinary text and numbers as they are', () => {
    expect(csvCell('CHG-8 retired')).toBe('CHG-8 retired');
    expect(csvCell('a, b')).toBe('"a, b"');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(' x')).toBe(' x');
  });

  it('shows before → after as the fields that changed', () => {
    expect(fieldDiffs({ a: 1, b: { c: 'x', d: 2 } }, { a: 1, b: { c: 'y' }, e: true })).toEqual([
      { field: 'b.c', before: 'x', after: 'y' },
      { field: 'b.d', before: 2, after: undefined },
      { field: 'e', before: undefined, after: true },
    ]);
    expect(changesText(null, { fqdn: 'pcpool.contoso.com', servers: ['pc1'] })).toBe('fqdn: pcpool.contoso.com\nservers: ["pc1"]');
    expect(changesText({ state: 'Normal' }, { state: 'FailedOver' })).toBe('state: Normal → FailedOver');
  });
});
