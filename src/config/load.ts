/**
 * Reads, validates and resolves the configuration file. Every problem is reported with the key it concerns (a
 * tenant's keys with the tenant: `tenants[fabrikam].teams.clientSecret`); relative paths in the file are taken
 * relative to the file's own directory. Both layouts come out the same: a list of tenants (tenant-config.ts), the
 * single-tenant layout as a list of one, the tenant "default".
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config, type SecretRef } from './schema.js';
import { Secret } from './secret.js';
import { checkTenants, layoutProblems, resolveTenants, tenantKeyPrefix, type TenantConfig } from './tenant-config.js';

export type { TenantConfig, ComponentConfig, TeamsConfig } from './tenant-config.js';

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

type StoreConfig = Config['store'];
type MssqlConfig = NonNullable<StoreConfig['mssql']>;
type ConsoleOidc = NonNullable<Config['console']['oidc']>;

/** What a node runs with: node-wide settings, and the tenants it serves (at least one). */
export type RuntimeConfig = Omit<Config, 'xmpp' | 'teams' | 'policy' | 'throttle' | 'cards' | 'sfb' | 'tenants' | 'store' | 'admin' | 'cluster' | 'console'> & {
  /** The XMPP server's component listener and the link's limits; the component domains are the tenants'. */
  readonly xmpp: Omit<Config['xmpp'], 'domain' | 'password'>;
  /** Every tenant the node serves, in configuration order. */
  readonly tenants: readonly TenantConfig[];
  readonly console: Omit<Config['console'], 'sessionSecret' | 'oidc'> & {
    readonly sessionSecret: Secret | undefined;
    readonly oidc: (Omit<ConsoleOidc, 'clientSecret'> & { readonly clientSecret: Secret | undefined }) | undefined;
  };
  readonly cluster: Omit<Config['cluster'], 'secret'> & { readonly secret: Secret | undefined };
  readonly admin: Omit<Config['admin'], 'token'> & { readonly token: Secret | undefined };
  readonly store: Omit<StoreConfig, 'mssql'> & { readonly mssql: (Omit<MssqlConfig, 'password'> & { readonly password: Secret | undefined }) | undefined };
};

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigProblem[] {
  const key = tenantKeyPrefix(issue.path, raw);
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

/** Resolves a secret reference, recording a problem under `key` when it cannot be read. */
export type SecretResolver = (key: string, ref: SecretRef) => Secret;

export function resolveConfig(raw: unknown, options: LoadOptions & { source?: string; baseDir?: string } = {}): RuntimeConfig {
  const source = options.source ?? '(inline)';
  const baseDir = options.baseDir ?? process.cwd();
  const env = options.env ?? process.env;
  const parsed = ConfigSchema.safeParse(raw ?? {});
  const layout = layoutProblems(raw);
  if (!parsed.success) {
    const found = parsed.error.issues.flatMap((i) => describeIssue(i, raw));
    throw new ConfigError(source, [...layout.filter((l) => !found.some((f) => f.key === l.key)), ...found]);
  }
  const c = parsed.data;
  const problems: ConfigProblem[] = [...layout];
  const path = (p: string) => resolve(baseDir, p);
  const secret: SecretResolver = (key, ref) => {
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
  const tenants = resolveTenants(c, { secret, path, problems });
  const { domain: _domain, password: _password, ...xmpp } = c.xmpp;
  const { teams: _teams, policy: _policy, throttle: _throttle, cards: _cards, sfb: _sfb, tenants: _tenants, ...rest } = c;
  const out: RuntimeConfig = {
    ...rest,
    xmpp,
    tenants,
    cluster: {
      ...c.cluster,
      secret: c.cluster.secret === undefined ? undefined : secret('cluster.secret', c.cluster.secret),
      licence: {
        file: c.cluster.licence.file && path(c.cluster.licence.file),
        publicKeys: c.cluster.licence.publicKeys.map((k) => (k.startsWith('-----BEGIN') ? k : path(k))),
      },
    },
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
  if (problems.length === 0) problems.push(...checkTenants(out));
  const oidc = out.console.oidc;
  if (oidc) {
    const t = oidc.tenant === undefined ? out.tenants[0] : out.tenants.find((x) => x.id === oidc.tenant);
    if (!t) problems.push({ key: 'console.oidc.tenant', problem: `no tenant "${oidc.tenant ?? ''}" (tenants: ${out.tenants.map((x) => x.id).join(', ')})` });
    else if (!t.teams) problems.push({ key: 'console.oidc', problem: `tenant ${t.id} has no Microsoft 365 tenant (teams) to sign operators in with: use the console token, or name a tenant with teams in console.oidc.tenant` });
    else if (oidc.clientSecret === undefined && t.teams.clientSecret === undefined) {
      problems.push({ key: 'console.oidc.clientSecret', problem: 'required when teams has no clientSecret (the console redeems its sign-in code with a secret)' });
    }
  }
  if (problems.length) throw new ConfigError(source, problems);
  return out;
}

/** The tenant a console OIDC sign-in uses (console.oidc.tenant, else the first). */
export function consoleTenant(c: RuntimeConfig): TenantConfig {
  const id = c.console.oidc?.tenant;
  return c.tenants.find((t) => t.id === id) ?? (c.tenants[0] as TenantConfig);
}
