/**
 * The tenants a node serves, resolved from either layout (issue 16): the `tenants` list, or the single-tenant
 * layout's top-level xmpp.domain, teams, policy, throttle, cards and sfb as one tenant with the id "default" (so
 * every existing configuration keeps working, and rows written before tenants existed stay that tenant's). Checks
 * that need the whole list (ids, domains, webhook paths, tokens, walls) are here too; each problem names its tenant.
 */
import { CertificateError, loadNotificationCertificate, type NotificationCertificate } from '../teams/rich-notifications.js';
import { readFileSync } from 'node:fs';
import type { Config, SecretRef } from './schema.js';
import type { Secret } from './secret.js';
import { DEFAULT_TENANT, type TenantRaw } from './tenants-schema.js';

type TeamsRaw = NonNullable<Config['teams']>;

/** A tenant's Microsoft 365 side, secrets resolved and certificates loaded. */
export type TeamsConfig = Omit<TeamsRaw, 'clientSecret' | 'puppets' | 'webhook'> & {
  readonly clientSecret: Secret | undefined;
  readonly webhook: Omit<TeamsRaw['webhook'], 'mediaSecret' | 'richNotifications'> & {
    readonly mediaSecret?: Secret | undefined;
    /** Loaded and checked; the first is current. */
    readonly richNotifications: { readonly certificates: readonly NotificationCertificate[] } | undefined;
  };
  readonly puppets: Omit<TeamsRaw['puppets'], 'passwordSecret'> & { readonly passwordSecret: Secret };
};

/** One XMPP component domain of a tenant. */
export interface ComponentConfig {
  readonly domain: string;
  readonly password: Secret;
  /** UPN domain whose users get short JIDs on this domain (the first component: teams.defaultUpnDomain). */
  readonly upnDomain: string | undefined;
}

export interface TenantConfig {
  readonly id: string;
  /** Its component domains, the first the primary one (SfB users and the tenant's own iqs use it). */
  readonly components: readonly ComponentConfig[];
  /** Its Microsoft 365 tenant; undefined for a deployment with SfB Server only (issue 17). */
  readonly teams: TeamsConfig | undefined;
  readonly policy: Config['policy'];
  readonly throttle: Config['throttle'];
  readonly cards: Config['cards'];
  readonly sfb: Config['sfb'];
  readonly admin: { readonly token: Secret | undefined };
}

export interface ResolveContext {
  readonly secret: (key: string, ref: SecretRef) => Secret;
  readonly path: (p: string) => string;
  readonly problems: { key: string; problem: string }[];
}

/** The key prefix of a schema path: `tenants.1.teams.x` reads `tenants[fabrikam].teams.x` when the id is known. */
export function tenantKeyPrefix(path: readonly PropertyKey[], raw: unknown): string {
  const parts = path.map(String);
  if (parts[0] !== 'tenants' || parts.length < 2) return parts.join('.');
  const entry = (raw as { tenants?: unknown[] } | undefined)?.tenants?.[Number(parts[1])] as { id?: unknown } | undefined;
  const name = typeof entry?.id === 'string' && entry.id !== '' ? entry.id : parts[1];
  return [`tenants[${name}]`, ...parts.slice(2)].join('.');
}

const TENANT_KEYS_AT_TOP = ['teams', 'policy', 'throttle', 'cards', 'sfb'] as const;

/**
 * Which layout the file uses, and what it lacks or has twice: read from the raw file, so that it is reported
 * together with the schema's own problems (a file with several mistakes gets them all at once).
 */
export function layoutProblems(raw: unknown): { key: string; problem: string }[] {
  const r = (raw ?? {}) as Record<string, unknown>;
  const xmpp = (r.xmpp ?? {}) as Record<string, unknown>;
  const problems: { key: string; problem: string }[] = [];
  if (r.tenants !== undefined) {
    // One place per setting: with tenants, what is a tenant's is set in its entry only.
    for (const k of TENANT_KEYS_AT_TOP) if (r[k] !== undefined) problems.push({ key: k, problem: `with tenants, each tenant has its own: move it into tenants[<id>].${k}` });
    for (const k of ['domain', 'password']) if (xmpp[k] !== undefined) problems.push({ key: `xmpp.${k}`, problem: `with tenants, each tenant has its own: move it into tenants[<id>].xmpp.${k}` });
    return problems;
  }
  for (const k of ['domain', 'password']) if (xmpp[k] === undefined) problems.push({ key: `xmpp.${k}`, problem: 'required key is missing' });
  // A deployment has Teams, SfB Server, or both (issue 17).
  if (r.teams === undefined && r.sfb === undefined) problems.push({ key: 'teams', problem: 'required key is missing: set teams (Microsoft 365), sfb (Skype for Business Server) or both (or list the tenants in tenants)' });
  return problems;
}

export function resolveTenants(c: Config, ctx: ResolveContext): TenantConfig[] {
  if (c.tenants) return c.tenants.map((t) => resolveTenant(t, `tenants[${t.id}].`, ctx));
  if (c.xmpp.domain === undefined || c.xmpp.password === undefined || (c.teams === undefined && c.sfb === undefined)) return [];
  const single: TenantRaw = {
    id: DEFAULT_TENANT,
    xmpp: { domain: c.xmpp.domain, password: c.xmpp.password, extraDomains: [] },
    teams: c.teams,
    policy: c.policy,
    throttle: c.throttle,
    cards: c.cards,
    sfb: c.sfb,
    admin: {},
  };
  // The single layout's keys keep their names in problems (teams.clientSecret, xmpp.password).
  return [resolveTenant(single, '', ctx)];
}

function resolveTenant(t: TenantRaw, prefix: string, ctx: ResolveContext): TenantConfig {
  const { secret, path } = ctx;
  const key = (k: string) => `${prefix}${k}`;
  const primaryPassword = prefix === '' ? 'xmpp.password' : key('xmpp.password');
  // Without Microsoft 365 the short JIDs are those of the SfB users' default domain (sfb.defaultDomain).
  const primaryUpnDomain = t.teams?.defaultUpnDomain ?? (t.sfb && (t.sfb.defaultDomain ?? t.sfb.domains[0]));
  if (!t.teams) groupRulesWithoutTeams(t, key, ctx.problems);
  return {
    id: t.id,
    components: [
      { domain: t.xmpp.domain, password: secret(primaryPassword, t.xmpp.password), upnDomain: primaryUpnDomain },
      ...t.xmpp.extraDomains.map((d, i) => ({ domain: d.domain, password: secret(key(`xmpp.extraDomains.${i}.password`), d.password), upnDomain: d.upnDomain })),
    ],
    teams: t.teams && resolveTeams(t.teams, key, ctx),
    policy: t.policy,
    throttle: t.throttle,
    cards: t.cards,
    sfb: t.sfb && { ...t.sfb, tls: { certFile: path(t.sfb.tls.certFile), keyFile: path(t.sfb.tls.keyFile), caFile: path(t.sfb.tls.caFile) } },
    admin: { token: t.admin.token === undefined ? undefined : secret(key('admin.token'), t.admin.token) },
  };
}

/** Entra groups are read from Graph: a tenant without Microsoft 365 cannot name one (it would match nobody). */
function groupRulesWithoutTeams(t: TenantRaw, key: (k: string) => string, problems: ResolveContext['problems']): void {
  const why = 'Entra groups need Microsoft 365 (teams); without it list SfB users by address in policy.users';
  if (t.policy.groups.length > 0) problems.push({ key: key('policy.groups'), problem: why });
  t.policy.pairing.forEach((r, i) => {
    if (r.groups.length > 0) problems.push({ key: key(`policy.pairing.${i}.groups`), problem: why });
  });
}

function resolveTeams(teams: TeamsRaw, key: (k: string) => string, ctx: ResolveContext): TeamsConfig {
  const { secret, path, problems } = ctx;
  const { tls } = teams.webhook;
  const certificate = (i: number, e: { id: string; certFile: string; keyFile: string }): NotificationCertificate[] => {
    try {
      return [loadNotificationCertificate(e.id, readFileSync(path(e.certFile), 'utf8'), readFileSync(path(e.keyFile), 'utf8'))];
    } catch (err) {
      problems.push({ key: key(`teams.webhook.richNotifications.certificates.${i}`), problem: err instanceof CertificateError ? err.message : `cannot read ${(err as Error).message}` });
      return [];
    }
  };
  const rich = teams.webhook.richNotifications;
  const certificates = rich?.certificates.flatMap((e, i) => certificate(i, e));
  if (rich && new Set(rich.certificates.map((e) => e.id)).size !== rich.certificates.length) {
    problems.push({ key: key('teams.webhook.richNotifications.certificates'), problem: 'each certificate needs its own id' });
  }
  if (teams.renewBeforeMinutes >= teams.subscriptionMinutes) {
    problems.push({ key: key('teams.renewBeforeMinutes'), problem: 'must be smaller than teams.subscriptionMinutes' });
  }
  return {
    ...teams,
    clientSecret: teams.clientSecret === undefined ? undefined : secret(key('teams.clientSecret'), teams.clientSecret),
    clientCertificatePath: teams.clientCertificatePath && path(teams.clientCertificatePath),
    webhook: {
      ...teams.webhook,
      tls: tls && { certFile: path(tls.certFile), keyFile: path(tls.keyFile) },
      richNotifications: certificates && { certificates },
      mediaSecret: teams.webhook.mediaSecret === undefined ? undefined : secret(key('teams.webhook.mediaSecret'), teams.webhook.mediaSecret),
    },
    puppets: { ...teams.puppets, passwordSecret: secret(key('teams.puppets.passwordSecret'), teams.puppets.passwordSecret) },
  };
}

/**
 * What a licence's terms.limits.tenants names a tenant by (docs/licensing.md): its Entra tenant id, or, for a
 * deployment with SfB Server only, its SIP domain (the one its users' short JIDs stand for).
 */
export function licenceIdentity(t: TenantConfig): string {
  return t.teams?.tenantId ?? t.components[0]?.upnDomain ?? t.id;
}

/** The path a tenant's webhook answers on (its publicUrl's path, without a trailing slash). */
export function webhookPath(t: { readonly webhook: { readonly publicUrl: string } }): string {
  return new URL(t.webhook.publicUrl).pathname.replace(/\/+$/u, '') || '/';
}

interface Checked {
  readonly tenants: readonly TenantConfig[];
  readonly walls: Config['walls'];
  readonly admin: { readonly token: Secret | undefined };
}

/** What must hold across tenants: each thing that identifies a tenant is its own. */
export function checkTenants(c: Checked): { key: string; problem: string }[] {
  const problems: { key: string; problem: string }[] = [];
  const multi = c.tenants.length > 1 || c.tenants[0]?.id !== DEFAULT_TENANT;
  const at = (t: TenantConfig, k: string) => (multi ? `tenants[${t.id}].${k}` : k);
  const unique = <V>(what: string, k: string, value: (t: TenantConfig) => readonly V[]) => {
    const seen = new Map<V, string>();
    for (const t of c.tenants) {
      for (const v of value(t)) {
        const other = seen.get(v);
        if (other !== undefined && other !== t.id) problems.push({ key: at(t, k), problem: `${what} ${String(v)} is also tenant ${other}'s: each tenant has its own` });
        else if (other === t.id) problems.push({ key: at(t, k), problem: `${what} ${String(v)} is listed twice` });
        seen.set(v, t.id);
      }
    }
  };
  unique('the id', 'id', (t) => [t.id]);
  unique('the Microsoft 365 tenant', 'teams.tenantId', (t) => (t.teams ? [t.teams.tenantId.toLowerCase()] : []));
  unique('the component domain', 'xmpp.domain', (t) => t.components.map((d) => d.domain));
  unique('the puppet UPN domain', 'teams.puppets.upnDomain', (t) => (t.teams ? [t.teams.puppets.upnDomain.toLowerCase()] : []));
  unique('the SfB listener', 'sfb.listen', (t) => (t.sfb ? [t.sfb.listen] : []));
  unique('the SfB photo server', 'sfb.photos.listen', (t) => (t.sfb?.photos.listen ? [t.sfb.photos.listen] : []));
  for (const t of c.tenants) {
    const upn = t.components.map((d) => d.upnDomain).filter((d): d is string => d !== undefined);
    if (new Set(upn).size !== upn.length) problems.push({ key: at(t, 'xmpp.extraDomains'), problem: 'each component domain serves its own UPN domain' });
    // Refused rather than ignored: a node would open no link for these domains (one link per domain, domain-aware
    // lookups and routing are not built yet; docs/tenants.md).
    if (t.components.length > 1) problems.push({ key: at(t, 'xmpp.extraDomains'), problem: 'several component domains for one tenant are not supported yet: list only xmpp.domain' });
  }
  // One listener per address serves every tenant configured on it, each on its own path (and its media links under it).
  const byListen = new Map<string, { id: string; teams: TeamsConfig }[]>();
  for (const { id, teams } of c.tenants) if (teams) byListen.set(teams.webhook.listen, [...(byListen.get(teams.webhook.listen) ?? []), { id, teams }]);
  for (const group of byListen.values()) {
    for (const [i, t] of group.entries()) {
      for (const o of group.slice(0, i)) {
        const a = webhookPath(t.teams);
        const b = webhookPath(o.teams);
        const tenant = c.tenants.find((x) => x.id === t.id) as TenantConfig;
        if (a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`) || a === '/' || b === '/') {
          problems.push({ key: at(tenant, 'teams.webhook.publicUrl'), problem: `its path ${a} overlaps tenant ${o.id}'s ${b} on the same listener ${t.teams.webhook.listen}: give each tenant a path of its own` });
        }
        if (JSON.stringify(t.teams.webhook.tls ?? null) !== JSON.stringify(o.teams.webhook.tls ?? null)) {
          problems.push({ key: at(tenant, 'teams.webhook.tls'), problem: `tenants on one listener (${t.teams.webhook.listen}) share its TLS settings; tenant ${o.id}'s differ` });
        }
      }
    }
  }
  // A token opens one scope: the operator's (every tenant) or one tenant's.
  const tokens = new Map<string, string>();
  if (c.admin.token) tokens.set(c.admin.token.reveal(), 'admin.token');
  for (const t of c.tenants) {
    const token = t.admin.token?.reveal();
    if (token === undefined) continue;
    const other = tokens.get(token);
    if (other !== undefined) problems.push({ key: at(t, 'admin.token'), problem: `the same token as ${other}: each tenant's token must be its own` });
    tokens.set(token, at(t, 'admin.token'));
  }
  const ids = new Set(c.tenants.map((t) => t.id));
  const known = (key: string, id: string) => {
    if (!ids.has(id)) problems.push({ key, problem: `no tenant "${id}" (tenants: ${[...ids].join(', ')})` });
  };
  c.walls.remote.forEach((w, i) => known(`walls.remote.${i}.tenant`, w.tenant));
  c.walls.between.forEach((w, i) => {
    known(`walls.between.${i}.tenant`, w.tenant);
    known(`walls.between.${i}.peer`, w.peer);
    if (w.tenant === w.peer) problems.push({ key: `walls.between.${i}.peer`, problem: 'a rule between a tenant and itself means nothing: name another tenant' });
  });
  return problems;
}

