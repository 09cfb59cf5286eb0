/**
 * Command-line parsing for the `xmpp-teams-gateway` command: a command word, then --key value options.
 * An option may be repeated (--tenant a --tenant b): `options` keeps the last value, `all` every value in order.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly options: ReadonlyMap<string, string | true>;
  readonly all: ReadonlyMap<string, readonly (string | true)[]>;
  readonly rest: readonly string[];
}

export function parseArgs(argv: readonly string[], known: ReadonlySet<string>): ParsedArgs {
  const options = new Map<string, string | true>();
  const all = new Map<string, (string | true)[]>();
  const set = (name: string, value: string | true) => {
    options.set(name, value);
    all.set(name, [...(all.get(name) ?? []), value]);
  };
  const rest: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/su, 2) as [string, string | undefined];
      if (!known.has(name)) throw new UsageError(`unknown option --${name}`);
      const next = argv[i + 1];
      if (inline !== undefined) set(name, inline);
      else if (next !== undefined && !next.startsWith('--')) {
        set(name, next);
        i++;
      } else set(name, true);
    } else if (command === undefined) command = a;
    else rest.push(a);
  }
  return { command, options, all, rest };
}

export function stringOption(args: Pick<ParsedArgs, 'options'>, name: string): string | undefined {
  const v = args.options.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

/** Every value of a repeatable option, in command-line order; empty when it is not given. */
export function stringOptions(args: Pick<ParsedArgs, 'all'>, name: string): string[] {
  return (args.all.get(name) ?? []).map((v) => {
    if (v === true) throw new UsageError(`--${name} needs a value`);
    return v;
  });
}
