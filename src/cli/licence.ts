/**
 * `licence show`: what an operator checks before deploying a licence file, verified as a node of this build would
 * (its built-in keys, src/cluster/licence-keys.ts). Making keys and signing licences is the vendor's tool
 * (tools/licence-signer.ts), which is not part of the gateway.
 */
import { readFileSync } from 'node:fs';
import { parseLicenceFile, verifyLicence } from '../cluster/licence.js';
import { buildKind, buildLicenceKeys } from '../cluster/licence-keys.js';
import { UsageError, stringOption, type ParsedArgs } from './args.js';

/** `licence show` found a licence that a node would refuse. */
export class LicenceRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LicenceRejectedError';
  }
}

type Options = Pick<ParsedArgs, 'options' | 'all'>;

/** Options that belong to `licence show`; others (--config…) are the main command's business. */
const SHOW_OPTIONS = new Set(['file']);

export function runLicence(rest: readonly string[], options: Options, out: NodeJS.WritableStream = process.stdout, now: number = Date.now()): void {
  const [sub, ...extra] = rest;
  if (sub === 'keygen' || sub === 'sign') {
    throw new UsageError(`licence ${sub}: licences are made with the vendor's signing tool, which is not part of the gateway (docs/licensing.md)`);
  }
  if (sub !== 'show') throw new UsageError("licence: expected 'show'");
  if (extra.length > 0) throw new UsageError(`licence show: unexpected argument '${extra[0] as string}'`);
  for (const [name, values] of options.all) {
    if (name === 'public-key') throw new UsageError('licence show does not take --public-key: a node trusts only the keys of its build');
    if (SHOW_OPTIONS.has(name) && values.length > 1) throw new UsageError(`--${name} given ${values.length} times; give it once`);
  }
  show(options, out, now);
}

function show(options: Options, out: NodeJS.WritableStream, now: number): void {
  const path = stringOption(options, 'file');
  if (path === undefined || path.trim() === '') throw new UsageError('--file FILE (the licence to show) is required');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LicenceRejectedError(`cannot read licence file ${path}: ${(err as Error).message}`);
  }
  const parsed = parseLicenceFile(text);
  if (!parsed.ok) throw new LicenceRejectedError(`${path}: ${parsed.detail}`);
  const { terms, keyId } = parsed.file;
  const days = (iso: string) => Math.round((Date.parse(iso) - now) / 86_400_000);
  const expires = days(terms.expiresAt);
  const rows: [string, string][] = [
    ['licence', terms.id],
    ['licensee', terms.licensee],
    ['max nodes', String(terms.maxNodes)],
    ['issued', terms.issuedAt],
    ...(terms.notBefore !== undefined ? [['not before', terms.notBefore] as [string, string]] : []),
    ['expires', `${terms.expiresAt} (${Date.parse(terms.expiresAt) <= now ? `expired ${-expires} days ago` : `in ${expires} days`})`],
    ['tenants', terms.limits?.tenants?.join(', ') ?? 'any'],
    ['remote domains', terms.limits?.maxRemoteDomains !== undefined ? `at most ${terms.limits.maxRemoteDomains}` : 'any number'],
    ['signing key', keyId],
  ];
  const verdict = verifyLicence(text, buildLicenceKeys(), now);
  rows.push(['verdict', verdict.ok ? `valid, signed by key ${keyId} of this ${buildKind()} build` : `REJECTED (${verdict.problem}): ${verdict.detail}`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  for (const [k, v] of rows) out.write(`${k.padEnd(width)}${v}\n`);
  if (!verdict.ok) throw new LicenceRejectedError(`${path} rejected (${verdict.problem}): ${verdict.detail}`);
}
