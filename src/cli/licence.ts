/**
 * `licence keygen | sign | show`: the vendor side of licensing (make a signing key, sign terms) and a check an
 * operator can run before deploying a licence file. Nodes verify the same way at start (src/cluster/licence.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LicenceKeyError, generateKeyPair, isIsoDate, parseLicenceFile, readTrustedKeys, signLicence, verifyLicence, type LicenceTerms } from '../cluster/licence.js';
import { UsageError, stringOption, stringOptions, type ParsedArgs } from './args.js';

export const PRIVATE_KEY_FILE = 'licence-signing.key';
export const PUBLIC_KEY_FILE = 'licence-signing.pub';

/** `licence show` found a licence that a node would refuse. */
export class LicenceRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LicenceRejectedError';
  }
}

type Options = Pick<ParsedArgs, 'options' | 'all'>;

const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  keygen: ['out'],
  sign: ['key', 'licensee', 'max-nodes', 'expires', 'id', 'not-before', 'tenant', 'max-remote-domains', 'out'],
  show: ['file', 'public-key'],
};
/** Options that belong to some licence subcommand; others (--config…) are the main command's business. */
const LICENCE_OPTIONS = new Set(Object.values(ALLOWED).flat());
const REPEATABLE = new Set(['tenant', 'public-key']);

export function runLicence(rest: readonly string[], options: Options, out: NodeJS.WritableStream = process.stdout, now: number = Date.now()): void {
  const [sub, ...extra] = rest;
  const allowed = sub === undefined ? undefined : ALLOWED[sub];
  if (allowed === undefined) throw new UsageError("licence: expected 'keygen', 'sign' or 'show'");
  if (extra.length > 0) throw new UsageError(`licence ${sub}: unexpected argument '${extra[0] as string}'`);
  for (const [name, values] of options.all) {
    if (LICENCE_OPTIONS.has(name) && !allowed.includes(name)) throw new UsageError(`licence ${sub} does not take --${name}`);
    if (values.length > 1 && !REPEATABLE.has(name)) throw new UsageError(`--${name} given ${values.length} times; give it once`);
  }
  if (sub === 'keygen') keygen(options, out);
  else if (sub === 'sign') signCommand(options, out, now);
  else show(options, out, now);
}

function required(options: Options, name: string, what: string): string {
  const v = stringOption(options, name);
  if (v === undefined || v.trim() === '') throw new UsageError(`--${name} ${what} is required`);
  return v;
}

function positiveInteger(options: Options, name: string): number | undefined {
  const v = stringOption(options, name);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/u.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1) throw new UsageError(`--${name} must be a positive whole number, got '${v}'`);
  return Number(v);
}

function date(options: Options, name: string): string | undefined {
  const v = stringOption(options, name);
  if (v === undefined) return undefined;
  if (!isIsoDate(v)) throw new UsageError(`--${name} must be an ISO 8601 date (2026-10-01) or date-time with zone (2026-10-01T12:00:00Z), got '${v}'`);
  return new Date(v).toISOString();
}

function keygen(options: Options, out: NodeJS.WritableStream): void {
  const dir = required(options, 'out', 'DIR (where to write the key pair)');
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  // Overwriting would orphan every licence signed with the old key: nodes trusting only the new one would refuse them.
  for (const p of [privatePath, publicPath]) {
    if (existsSync(p)) throw new LicenceKeyError(`${p} already exists; refusing to overwrite a licence signing key (move it away or choose another --out)`);
  }
  const pair = generateKeyPair();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // 'wx' fails rather than overwrites, should another keygen race this one.
  writeFileSync(privatePath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, pair.publicKeyPem, { mode: 0o644, flag: 'wx' });
  out.write(`key id       ${pair.keyId}\nprivate key  ${privatePath}  (keep it secret and off the nodes: it signs licences)\npublic key   ${publicPath}  (give it to every node: cluster.licence.publicKeys)\n`);
}

function signCommand(options: Options, out: NodeJS.WritableStream, now: number): void {
  const keyPath = required(options, 'key', 'PRIVATE.pem (the signing key from licence keygen)');
  const licensee = required(options, 'licensee', 'NAME');
  const maxNodes = positiveInteger(options, 'max-nodes');
  if (maxNodes === undefined) throw new UsageError('--max-nodes N is required');
  const expiresAt = date(options, 'expires');
  if (expiresAt === undefined) throw new UsageError('--expires ISO-DATE is required');
  if (Date.parse(expiresAt) <= now) throw new UsageError(`--expires ${expiresAt} is in the past`);
  const notBefore = date(options, 'not-before');
  if (notBefore !== undefined && Date.parse(notBefore) >= Date.parse(expiresAt)) throw new UsageError(`--not-before ${notBefore} is not before --expires ${expiresAt}`);
  const tenants = stringOptions(options, 'tenant').map((t) => t.trim());
  if (tenants.some((t) => t === '')) throw new UsageError('--tenant needs an Entra tenant id');
  const maxRemoteDomains = positiveInteger(options, 'max-remote-domains');
  const id = stringOption(options, 'id') ?? `L-${randomBytes(4).toString('hex').toUpperCase()}`;
  if (id.trim() === '') throw new UsageError('--id must not be empty');
  const outPath = required(options, 'out', 'FILE (where to write the licence)');
  if (resolve(outPath) === resolve(keyPath)) throw new UsageError('--out is the signing key itself; choose another file');

  let privateKeyPem: string;
  try {
    privateKeyPem = readFileSync(keyPath, 'utf8');
  } catch (err) {
    throw new LicenceKeyError(`cannot read signing key ${keyPath}: ${(err as Error).message}`);
  }
  const limits = { ...(tenants.length > 0 ? { tenants } : {}), ...(maxRemoteDomains !== undefined ? { maxRemoteDomains } : {}) };
  const terms: LicenceTerms = {
    id,
    licensee,
    maxNodes,
    issuedAt: new Date(now).toISOString(),
    ...(notBefore !== undefined ? { notBefore } : {}),
    expiresAt,
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
  let file;
  try {
    file = signLicence(terms, privateKeyPem);
  } catch (err) {
    if (err instanceof LicenceKeyError) throw new LicenceKeyError(`${keyPath}: ${err.message}`);
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
  writeFileSync(outPath, `${JSON.stringify(file, null, 2)}\n`);
  out.write(`signed licence ${id} for ${licensee}: ${maxNodes} node${maxNodes === 1 ? '' : 's'}, expires ${expiresAt}, key id ${file.keyId}\nwritten to ${outPath}\n`);
}

function show(options: Options, out: NodeJS.WritableStream, now: number): void {
  const path = required(options, 'file', 'FILE (the licence to show)');
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
  const keyFiles = stringOptions(options, 'public-key');
  if (keyFiles.length === 0) {
    rows.push(['verdict', 'signature not checked (give --public-key FILE to verify)']);
    writeRows(out, rows);
    return;
  }
  const trusted = readTrustedKeys(keyFiles);
  const verdict = verifyLicence(text, trusted, now);
  rows.push(['verdict', verdict.ok ? `valid, signed by trusted key ${keyId}` : `REJECTED (${verdict.problem}): ${verdict.detail}`]);
  writeRows(out, rows);
  if (!verdict.ok) throw new LicenceRejectedError(`${path} rejected (${verdict.problem}): ${verdict.detail}`);
}

function writeRows(out: NodeJS.WritableStream, rows: readonly [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  for (const [k, v] of rows) out.write(`${k.padEnd(width)}${v}\n`);
}
