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
    const ratio = row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`;
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
