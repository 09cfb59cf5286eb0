/** Command-line parsing for the `xmpp-teams-gateway` command: a command word, then --key value options. */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly options: ReadonlyMap<string, string | true>;
  readonly rest: readonly string[];
}

export function parseArgs(argv: readonly string[], known: ReadonlySet<string>): ParsedArgs {
  const options = new Map<string, string | true>();
  const rest: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/su, 2) as [string, string | undefined];
      if (!known.has(name)) throw new UsageError(`unknown option --${name}`);
      const next = argv[i + 1];
      if (inline !== undefined) options.set(name, inline);
      else if (next !== undefined && !next.startsWith('--')) {
        options.set(name, next);
        i++;
      } else options.set(name, true);
    } else if (command === undefined) command = a;
    else rest.push(a);
  }
  return { command, options, rest };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}
