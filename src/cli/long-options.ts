/** `--name value`, `--name=value` and `--switch` options, and the words that are not options. */
export interface LongOptions {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

/** Reads the options of a product command; an option it does not take is an error worded by `unknown`. */
export function parseLongOptions(
  argv: readonly string[],
  valued: readonly string[],
  switches: readonly string[],
  unknown: (name: string) => string,
): LongOptions {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      positional.push(arg);
      continue;
    }
    const name = match[1]!;
    if (switches.includes(name)) flags.set(name, true);
    else if (valued.includes(name)) {
      const value = match[2] ?? argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new Error(unknown(name));
  }
  return { positional, flags };
}
