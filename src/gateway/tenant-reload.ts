/**
 * Tenants added, changed or removed while a node runs (issue 16): SIGHUP, or POST /admin/tenants/reload, reads the
 * configuration file again and applies its `tenants` and `walls`. An added tenant gets its store, runtime, webhook
 * path, XMPP link and subscriptions (made as its pairs become active); a removed one is stopped: its link closes,
 * its actors are passivated, its Graph subscriptions deleted (by the node holding the duties), its store kept for
 * a later return. A changed tenant is stopped and started again with its new settings, keeping its subscriptions
 * (unless its webhook URL changed). Each node of a cluster reloads on its own signal.
 *
 * What a reload cannot change is refused before anything is applied (the node keeps running as it was): the first
 * tenant (the unscoped admin paths and the node's own rows are its), a tenant with an SfB side, and the single-
 * tenant layout's tenant. Settings outside `tenants` and `walls` take a restart; a reload that sees them changed
 * says so in its answer and log.
 */
import { createHash } from 'node:crypto';
import type { RuntimeConfig, TenantConfig } from '../config/load.js';
import { Secret } from '../config/secret.js';
import { DEFAULT_TENANT } from '../config/tenants-schema.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Walls } from '../policy/walls.js';
import type { TenantRuntime } from './tenant-runtime.js';

/** A reload that would need a restart: nothing of it was applied. */
export class TenantReloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TenantReloadError';
  }
}

export interface TenantChanges {
  readonly added: readonly TenantConfig[];
  readonly removed: readonly string[];
  readonly changed: readonly TenantConfig[];
}

/** A tenant's settings as one string: equal when nothing of it changed (secrets compared by their hash). */
export function tenantFingerprint(t: TenantConfig): string {
  // The replacer sees a Secret after its toJSON ("[secret]"): the holder's own property is the Secret itself.
  return JSON.stringify(t, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Secret ? `secret:${createHash('sha256').update(raw.reveal()).digest('hex')}` : value;
  });
}

/** Which tenants a new list adds, removes or changes (by id). Pure. */
export function tenantChanges(current: readonly TenantConfig[], next: readonly TenantConfig[]): TenantChanges {
  const before = new Map(current.map((t) => [t.id, t]));
  const after = new Set(next.map((t) => t.id));
  return {
    added: next.filter((t) => !before.has(t.id)),
    removed: current.filter((t) => !after.has(t.id)).map((t) => t.id),
    changed: next.filter((t) => {
      const old = before.get(t.id);
      return old !== undefined && tenantFingerprint(old) !== tenantFingerprint(t);
    }),
  };
}

/** The reasons a set of changes needs a restart (none: it can be applied now). */
export function restartReasons(current: readonly TenantConfig[], next: readonly TenantConfig[], changes: TenantChanges): string[] {
  const reasons: string[] = [];
  const first = current[0];
  if (first && next[0]?.id !== first.id) reasons.push(`tenant ${first.id} must stay first: the unscoped admin paths and the node's own rows are the first tenant's (restart to change it)`);
  else if (first && changes.changed.some((t) => t.id === first.id)) reasons.push(`tenant ${first.id} is the first tenant: a change to it takes a restart`);
  const touched = [...changes.added, ...changes.changed, ...current.filter((t) => changes.removed.includes(t.id))];
  for (const t of touched) {
    if (t.id === DEFAULT_TENANT) reasons.push('the single-tenant layout\'s tenant "default" is changed by a restart');
    if (t.sfb) reasons.push(`tenant ${t.id} has an SfB side (sfb): adding, changing or removing it takes a restart`);
  }
  return [...new Set(reasons)];
}

/** Node-level settings (outside tenants and walls) that differ, by top-level key: a restart applies them. */
export function nodeSettingsChanged(current: RuntimeConfig, next: RuntimeConfig): string[] {
  const plain = (c: RuntimeConfig) => Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'tenants' && k !== 'walls').map(([k, v]) => [k, JSON.stringify(v)]));
  const a = plain(current);
  const b = plain(next);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

/** What applying changes needs of the node (gateway.ts). */
export interface ReloadHost {
  /** The node's tenants by id, in configuration order; the reload adds and deletes entries. */
  readonly tenants: Map<string, TenantRuntime>;
  readonly walls: Walls;
  readonly log: Logger;
  /** Opens the tenant's store and builds its runtime (not started). */
  create(t: TenantConfig): Promise<TenantRuntime>;
  /** Starts a built runtime: webhook path, stanza routing, cluster channels, link. */
  attach(rt: TenantRuntime): Promise<void>;
  /**
   * Stops a runtime: link, webhook path, actors, store; its Graph subscriptions deleted when `deleteSubscriptions`
   * and this node holds the duties. Answers how many were deleted.
   */
  detach(rt: TenantRuntime, deleteSubscriptions: boolean): Promise<number>;
  /** The tenants changed: the licence is checked again (it must cover every tenant). */
  licenceChanged(): void;
}

export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Graph subscriptions deleted with the removed tenants (on the node holding the duties). */
  readonly subscriptionsDeleted: number;
  /** Tenants that could not be started (their store refused, their listener address taken, ...): not served. */
  readonly failed: readonly { readonly tenant: string; readonly error: string }[];
  /** Node-level settings the file changes that only a restart applies. */
  readonly restartNeededFor: readonly string[];
}

export async function applyTenantChanges(host: ReloadHost, current: RuntimeConfig, next: RuntimeConfig): Promise<ReloadSummary> {
  const now = [...host.tenants.values()].map((rt) => rt.t);
  const changes = tenantChanges(now, next.tenants);
  const reasons = restartReasons(now, next.tenants, changes);
  if (reasons.length) throw new TenantReloadError(`nothing was applied: ${reasons.join('; ')}`);
  const restartNeededFor = nodeSettingsChanged(current, next);
  // Walls first: a tenant leaving is walled off from the others before it goes, an arriving one only once known.
  host.walls.update(next.walls, next.tenants.map((t) => ({ id: t.id, domains: t.components.map((d) => d.domain) })));
  let subscriptionsDeleted = 0;
  // A removed tenant's subscriptions go; a changed one keeps its own (same store, so notifications go on arriving),
  // unless its webhook URL changed: Graph would go on posting to the old one.
  const newUrl = new Map(changes.changed.map((t) => [t.id, t.teams?.webhook.publicUrl]));
  for (const id of [...changes.removed, ...newUrl.keys()]) {
    const rt = host.tenants.get(id);
    if (!rt) continue;
    host.tenants.delete(id);
    subscriptionsDeleted += await host.detach(rt, !newUrl.has(id) || newUrl.get(id) !== rt.t.teams?.webhook.publicUrl);
  }
  // One tenant that cannot start does not keep the others out: it is reported, and a later reload retries it.
  const failed: { tenant: string; error: string }[] = [];
  for (const t of [...changes.changed, ...changes.added]) {
    let rt: TenantRuntime | undefined;
    try {
      rt = await host.create(t);
      host.tenants.set(t.id, rt);
      await host.attach(rt);
    } catch (err) {
      failed.push({ tenant: t.id, error: errorMessage(err) });
      host.log.error('a tenant could not be started; the others were applied', { tenant: t.id, error: errorMessage(err) });
      if (rt) {
        host.tenants.delete(t.id);
        await host.detach(rt, false).catch(() => undefined);
      }
    }
  }
  host.licenceChanged();
  const summary: ReloadSummary = {
    added: changes.added.map((t) => t.id),
    removed: [...changes.removed],
    changed: changes.changed.map((t) => t.id),
    subscriptionsDeleted,
    restartNeededFor,
    failed,
  };
  host.log.info('tenants reloaded', { ...summary });
  if (restartNeededFor.length) host.log.warn('the configuration changes node settings that only a restart applies', { keys: restartNeededFor });
  return summary;
}
