/**
 * Reads, validates and resolves the configuration file. Every problem is reported with the key it concerns;
 * relative paths in the file are taken relative to the file's own directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config, type SecretRef } from './schema.js';
import { Secret } from './secret.js';
import { CertificateError, loadNotificationCertificate, type NotificationCertificate } from '../teams/rich-notifications.js';

export interface ConfigProblem {
  readonly key: string;
  readonly problem: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  ${p.key || '(root)'}: ${p.problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Puppets = Config['teams']['puppets'];
type StoreConfig = Config['store'];
type MssqlConfig = NonNullable<StoreConfig['mssql']>;
type ConsoleOidc = NonNullable<Config['console']['oidc']>;
export type RuntimeConfig = Omit<Config, 'xmpp' | 'teams' | 'store' | 'admin' | 'cluster' | 'console' | 'sfb'> & {
  readonly console: Omit<Config['console'], 'sessionSecret' | 'oidc'> & {
    readonly sessionSecret: Secret | undefined;
    readonly oidc: (Omit<ConsoleOidc, 'clientSecret'> & { readonly clientSecret: Secret | undefined }) | undefined;
  };
  /** Issue 17: the SfB side, its file paths resolved. */
  readonly sfb: Config['sfb'];
  readonly cluster: Omit<Config['cluster'], 'secret'> & { readonly secret: Secret | undefined };
  readonly admin: Omit<Config['admin'], 'token'> & { readonly token: Secret | undefined };
  readonly store: Omit<StoreConfig, 'mssql'> & { readonly mssql: (Omit<MssqlConfig, 'password'> & { readonly password: Secret | undefined }) | undefined };
  readonly xmpp: Omit<Config['xmpp'], 'password'> & { readonly password: Secret };
  readonly teams: Omit<Config['teams'], 'clientSecret' | 'puppets' | 'webhook'> & {
    readonly clientSecret: Secret | undefined;
    readonly webhook: Omit<Config['teams']['webhook'], 'mediaSecret' | 'richNotifications'> & {
      readonly mediaSecret?: Secret | undefined;
      /** Loaded and checked; the first is current. */
      readonly richNotifications: { readonly certificates: readonly NotificationCertificate[] } | undefined;
    };
    readonly puppets: Omit<Puppets, 'passwordSecret'> & { readonly passwordSecret: Secret };
  };
};

function describeIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  const key = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ key: key ? `${key}.${k}` : k, problem: 'unknown key (check the spelling against the README)' }));
  }
  const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
  if (issue.code === 'invalid_union') {
    const absent = issue.errors.every((branch) => branch.some((i) => i.code === 'invalid_type' && i.path.length === 0 && i.message.endsWith('received undefined')));
    return [{ key, problem: absent ? 'required key is missing' : 'expected a string, {env: NAME} or {file: PATH}' }];
  }
  return [{ key, problem: missing ? 'required key is missing' : issue.message }];
}

export interface LoadOptions {
  readonly env?: NodeJS.ProcessEnv;
}

export function loadConfigFile(path: string, options: LoadOptions = {}): RuntimeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ key: '', problem: `cannot read the file: ${(err as Error).message}` }]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, [{ key: '', problem: `not valid YAML/JSON: ${(err as Error).message}` }]);
  }
  return resolveConfig(raw, { ...options, source: path, baseDir: dirname(resolve(path)) });
}

export function resolveConfig(raw: unknown, options: LoadOptions & { source?: string; baseDir?: string } = {}): RuntimeConfig {
  const source = options.source ?? '(inline)';
  const baseDir = options.baseDir ?? process.cwd();
  const env = options.env ?? process.env;
  const parsed = ConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.flatMap(describeIssue));
  const c = parsed.data;
  const problems: ConfigProblem[] = [];
  const path = (p: string) => resolve(baseDir, p);
  const secret = (key: string, ref: SecretRef): Secret => {
    if (typeof ref === 'string') return new Secret(ref);
    if ('env' in ref) {
      const value = env[ref.env];
      if (!value) problems.push({ key, problem: `environment variable ${ref.env} is not set` });
      return new Secret(value ?? '');
    }
    try {
      const value = readFileSync(path(ref.file), 'utf8').replace(/\r?\n$/u, '');
      if (!value) problems.push({ key, problem: `secret file ${ref.file} is empty` });
      return new Secret(value);
    } catch (err) {
      problems.push({ key, problem: `cannot read secret file ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return new Secret('');
    }
  };
  const { tls } = c.teams.webhook;
  const certificate = (i: number, e: { id: string; certFile: string; keyFile: string }): NotificationCertificate[] => {
    const key = `teams.webhook.richNotifications.certificates.${i}`;
    try {
      return [loadNotificationCertificate(e.id, readFileSync(path(e.certFile), 'utf8'), readFileSync(path(e.keyFile), 'utf8'))];
    } catch (err) {
      problems.push({ key, problem: err instanceof CertificateError ? err.message : `cannot read ${(err as Error).message}` });
      return [];
    }
  };
  const rich = c.teams.webhook.richNotifications;
  const certificates = rich?.certificates.flatMap((e, i) => certificate(i, e));
  if (rich && new Set(rich.certificates.map((e) => e.id)).size !== rich.certificates.length) {
    problems.push({ key: 'teams.webhook.richNotifications.certificates', problem: 'each certificate needs its own id' });
  }
  const out: RuntimeConfig = {
    ...c,
    xmpp: { ...c.xmpp, password: secret('xmpp.password', c.xmpp.password) },
    teams: {
      ...c.teams,
      clientSecret: c.teams.clientSecret === undefined ? undefined : secret('teams.clientSecret', c.teams.clientSecret),
      clientCertificatePath: c.teams.clientCertificatePath && path(c.teams.clientCertificatePath),
      webhook: {
        ...c.teams.webhook,
        tls: tls && { certFile: path(tls.certFile), keyFile: path(tls.keyFile) },
        richNotifications: certificates && { certificates },
        mediaSecret: c.teams.webhook.mediaSecret === undefined ? undefined : secret('teams.webhook.mediaSecret', c.teams.webhook.mediaSecret),
      },
      puppets: { ...c.teams.puppets, passwordSecret: secret('teams.puppets.passwordSecret', c.teams.puppets.passwordSecret) },
    },
    cluster: {
      ...c.cluster,
      secret: c.cluster.secret === undefined ? undefined : secret('cluster.secret', c.cluster.secret),
      licence: {
        file: c.cluster.licence.file && path(c.cluster.licence.file),
        publicKeys: c.cluster.licence.publicKeys.map((k) => (k.startsWith('-----BEGIN') ? k : path(k))),
      },
    },
    sfb: c.sfb && { ...c.sfb, tls: { certFile: path(c.sfb.tls.certFile), keyFile: path(c.sfb.tls.keyFile), caFile: path(c.sfb.tls.caFile) } },
    admin: { ...c.admin, token: c.admin.token === undefined ? undefined : secret('admin.token', c.admin.token) },
    console: {
      ...c.console,
      sessionSecret: c.console.sessionSecret === undefined ? undefined : secret('console.sessionSecret', c.console.sessionSecret),
      oidc: c.console.oidc && {
        ...c.console.oidc,
        clientSecret: c.console.oidc.clientSecret === undefined ? undefined : secret('console.oidc.clientSecret', c.console.oidc.clientSecret),
      },
    },
    store: {
      ...c.store,
      sqlite: { ...c.store.sqlite, path: path(c.store.sqlite.path) },
      mssql: c.store.mssql && {
        ...c.store.mssql,
        password: c.store.mssql.password === undefined ? undefined : secret('store.mssql.password', c.store.mssql.password),
      },
    },
  };
  if (c.teams.renewBeforeMinutes >= c.teams.subscriptionMinutes) {
    problems.push({ key: 'teams.renewBeforeMinutes', problem: 'must be smaller than teams.subscriptionMinutes' });
  }
  if (c.console.oidc && c.console.oidc.clientSecret === undefined && c.teams.clientSecret === undefined) {
    problems.push({ key: 'console.oidc.clientSecret', problem: 'required when teams has no clientSecret (the console redeems its sign-in code with a secret)' });
  }
  if (problems.length) throw new ConfigError(source, problems);
  return out;
}
