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
  readonly teams: TeamsConfig;
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
  if (r.teams === undefined) problems.push({ key: 'teams', problem: 'required key is missing (or list the tenants in tenants)' });
  return problems;
}

export function resolveTenants(c: Config, ctx: ResolveContext): TenantConfig[] {
  if (c.tenants) return c.tenants.map((t) => resolveTenant(t, `tenants[${t.id}].`, ctx));
  if (c.xmpp.domain === undefined || c.xmpp.password === undefined || c.teams === undefined) return [];
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
  const { secret, path, problems } = ctx;
  const key = (k: string) => `${prefix}${k}`;
  const { tls } = t.teams.webhook;
  const certificate = (i: number, e: { id: string; certFile: string; keyFile: string }): NotificationCertificate[] => {
    try {
      return [loadNotificationCertificate(e.id, readFileSync(path(e.certFile), 'utf8'), readFileSync(path(e.keyFile), 'utf8'))];
    } catch (err) {
      problems.push({ key: key(`teams.webhook.richNotifications.certificates.${i}`), problem: err instanceof CertificateError ? err.message : `cannot read ${(err as Error).message}` });
      return [];
    }
  };
  const rich = t.teams.webhook.richNotifications;
  const certificates = rich?.certificates.flatMap((e, i) => certificate(i, e));
  if (rich && new Set(rich.certificates.map((e) => e.id)).size !== rich.certificates.length) {
    problems.push({ key: key('teams.webhook.richNotifications.certificates'), problem: 'each certificate needs its own id' });
  }
  if (t.teams.renewBeforeMinutes >= t.teams.subscriptionMinutes) {
    problems.push({ key: key('teams.renewBeforeMinutes'), problem: 'must be smaller than teams.subscriptionMinutes' });
  }
  const primaryPassword = prefix === '' ? 'xmpp.password' : key('xmpp.password');
  return {
    id: t.id,
    components: [
      { domain: t.xmpp.domain, password: secret(primaryPassword, t.xmpp.password), upnDomain: t.teams.defaultUpnDomain },
      ...t.xmpp.extraDomains.map((d, i) => ({ domain: d.domain, password: secret(key(`xmpp.extraDomains.${i}.password`), d.password), upnDomain: d.upnDomain })),
    ],
    teams: {
      ...t.teams,
      clientSecret: t.teams.clientSecret === undefined ? undefined : secret(key('teams.clientSecret'), t.teams.clientSecret),
      clientCertificatePath: t.teams.clientCertificatePath && path(t.teams.clientCertificatePath),
      webhook: {
        ...t.teams.webhook,
        tls: tls && { certFile: path(tls.certFile), keyFile: path(tls.keyFile) },
        richNotifications: certificates && { certificates },
        mediaSecret: t.teams.webhook.mediaSecret === undefined ? undefined : secret(key('teams.webhook.mediaSecret'), t.teams.webhook.mediaSecret),
      },
      puppets: { ...t.teams.puppets, passwordSecret: secret(key('teams.puppets.passwordSecret'), t.teams.puppets.passwordSecret) },
    },
    policy: t.policy,
    throttle: t.throttle,
    cards: t.cards,
    sfb: t.sfb && { ...t.sfb, tls: { certFile: path(t.sfb.tls.certFile), keyFile: path(t.sfb.tls.keyFile), caFile: path(t.sfb.tls.caFile) } },
    admin: { token: t.admin.token === undefined ? undefined : secret(key('admin.token'), t.admin.token) },
  };
}

/** The path a tenant's webhook answers on (its publicUrl's path, without a trailing slash). */
export function webhookPath(t: TenantConfig): string {
  return new URL(t.teams.webhook.publicUrl).pathname.replace(/\/+$/u, '') || '/';
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
  unique('the Microsoft 365 tenant', 'teams.tenantId', (t) => [t.teams.tenantId.toLowerCase()]);
  unique('the component domain', 'xmpp.domain', (t) => t.components.map((d) => d.domain));
  unique('the puppet UPN domain', 'teams.puppets.upnDomain', (t) => [t.teams.puppets.upnDomain.toLowerCase()]);
  unique('the SfB listener', 'sfb.listen', (t) => (t.sfb ? [t.sfb.listen] : []));
  for (const t of c.tenants) {
    const upn = t.components.map((d) => d.upnDomain).filter((d): d is string => d !== undefined);
    if (new Set(upn).size !== upn.length) problems.push({ key: at(t, 'xmpp.extraDomains'), problem: 'each component domain serves its own UPN domain' });
    // Refused rather than ignored: a node would open no link for these domains (one link per domain, domain-aware
    // lookups and routing are not built yet; docs/tenants.md).
    if (t.components.length > 1) problems.push({ key: at(t, 'xmpp.extraDomains'), problem: 'several component domains for one tenant are not supported yet: list only xmpp.domain' });
  }
  // One listener per address serves every tenant configured on it, each on its own path (and its media links under it).
  const byListen = new Map<string, TenantConfig[]>();
  for (const t of c.tenants) byListen.set(t.teams.webhook.listen, [...(byListen.get(t.teams.webhook.listen) ?? []), t]);
  for (const group of byListen.values()) {
    for (const [i, t] of group.entries()) {
      for (const o of group.slice(0, i)) {
        const a = webhookPath(t);
        const b = webhookPath(o);
        if (a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`) || a === '/' || b === '/') {
          problems.push({ key: at(t, 'teams.webhook.publicUrl'), problem: `its path ${a} overlaps tenant ${o.id}'s ${b} on the same listener ${t.teams.webhook.listen}: give each tenant a path of its own` });
        }
        if (JSON.stringify(t.teams.webhook.tls ?? null) !== JSON.stringify(o.teams.webhook.tls ?? null)) {
          problems.push({ key: at(t, 'teams.webhook.tls'), problem: `tenants on one listener (${t.teams.webhook.listen}) share its TLS settings; tenant ${o.id}'s differ` });
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

