#!/usr/bin/env node
/**
 * `licence-signer keygen | sign`: the vendor's licence tool (docs/licensing.md). Not part of the gateway's image
 * or package: a licensee who had it could sign their own licences.
 *   node dist/tools/licence-signer.js keygen --out DIR
 *   node dist/tools/licence-signer.js sign --key PRIVATE.pem --licensee NAME --max-nodes N --expires ISO-DATE --out FILE
 *        [--id ID] [--not-before ISO-DATE] [--tenant ID]... [--max-remote-domains N]
 * Exit codes: 0 ok, 1 a key problem, 2 bad usage.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseArgs, stringOption, stringOptions, type ParsedArgs } from '../src/cli/args.js';
import { LicenceKeyError, isIsoDate, type LicenceTerms } from '../src/cluster/licence.js';
import { generateKeyPair, signLicence } from './licence-signing.js';

export const PRIVATE_KEY_FILE = 'licence-signing.key';
export const PUBLIC_KEY_FILE = 'licence-signing.pub';

const USAGE = `usage: licence-signer keygen --out DIR
       licence-signer sign --key PRIVATE.pem --licensee NAME --max-nodes N --expires ISO-DATE --out FILE
                           [--id ID] [--not-before ISO-DATE] [--tenant ID]... [--max-remote-domains N]`;

const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  keygen: ['out'],
  sign: ['key', 'licensee', 'max-nodes', 'expires', 'id', 'not-before', 'tenant', 'max-remote-domains', 'out'],
};
const REPEATABLE = new Set(['tenant']);

export function runSigner(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, now: number = Date.now()): void {
  const args = parseArgs(argv, new Set(Object.values(ALLOWED).flat()));
  const sub = args.command;
  const allowed = sub === undefined ? undefined : ALLOWED[sub];
  if (allowed === undefined) throw new UsageError("expected 'keygen' or 'sign'");
  if (args.rest.length > 0) throw new UsageError(`${sub}: unexpected argument '${args.rest[0] as string}'`);
  for (const [name, values] of args.all) {
    if (!allowed.includes(name)) throw new UsageError(`${sub} does not take --${name}`);
    if (values.length > 1 && !REPEATABLE.has(name)) throw new UsageError(`--${name} given ${values.length} times; give it once`);
  }
  if (sub === 'keygen') keygen(args, out);
  else signCommand(args, out, now);
}

function required(options: ParsedArgs, name: string, what: string): string {
  const v = stringOption(options, name);
  if (v === undefined || v.trim() === '') throw new UsageError(`--${name} ${what} is required`);
  return v;
}

function positiveInteger(options: ParsedArgs, name: string): number | undefined {
  const v = stringOption(options, name);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/u.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1) throw new UsageError(`--${name} must be a positive whole number, got '${v}'`);
  return Number(v);
}

function date(options: ParsedArgs, name: string): string | undefined {
  const v = stringOption(options, name);
  if (v === undefined) return undefined;
  if (!isIsoDate(v)) throw new UsageError(`--${name} must be an ISO 8601 date (2026-10-01) or date-time with zone (2026-10-01T12:00:00Z), got '${v}'`);
  return new Date(v).toISOString();
}

function keygen(options: ParsedArgs, out: NodeJS.WritableStream): void {
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
  out.write(
    `key id       ${pair.keyId}\nprivate key  ${privatePath}  (keep it secret, with this tool, off every node)\npublic key   ${publicPath}  (goes into the gateway's build: src/cluster/licence-keys.ts)\n`,
  );
}

function signCommand(options: ParsedArgs, out: NodeJS.WritableStream, now: number): void {
  const keyPath = required(options, 'key', 'PRIVATE.pem (the signing key from keygen)');
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

// Run as a program (not when imported by a test).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    runSigner(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`licence-signer: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
