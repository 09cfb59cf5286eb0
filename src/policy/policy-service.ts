/**
 * The live whitelist of a node: the lists from configuration joined with those changed at run time (in the
 * store, so every node sees them), and Entra group memberships read from Graph and refreshed on a timer.
 * Changes through {@link PolicyService.change} are audit-logged and apply without a restart.
 */
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Store, WhitelistKind } from '../store/store.js';
import type { TeamsPort } from '../teams/teams-port.js';
import { RemoteDomainBudget } from './remote-domain-budget.js';
import { compileDomainRules, mayFederate, normaliseUserRule, userMatches, type PairingRule, type Policy, type TeamsIdentity, type Verdict } from './whitelist.js';

export interface PolicyConfig {
  readonly domains: readonly string[];
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly pairing: readonly { users: readonly string[]; groups: readonly string[]; domains: readonly string[] }[];
  readonly groupRefreshSeconds: number;
  readonly reloadSeconds: number;
}

export interface PolicyServiceOptions {
  readonly config: PolicyConfig;
  readonly store: Store;
  readonly teams: Pick<TeamsPort, 'groupMemberIds'>;
  readonly log: Logger;
  readonly now?: () => number;
  /** More groups whose members are read (the tenant's groups named by walls, issue 16; asked at each refresh). */
  readonly extraGroups?: () => readonly string[];
  /** The licence's cap on remote domain rules, shared by the node's tenants (default: this whitelist's own). */
  readonly domainBudget?: RemoteDomainBudget;
  /** The tenant this whitelist is (its place in the shared budget). */
  readonly tenant?: string;
}

export class PolicyChangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyChangeError';
  }
}

const DOMAIN_RULE = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u;

/**
 * Writes one run-time whitelist change and its audit record (who, what, when). Used by the admin API and the
 * `whitelist` CLI; nodes pick the change up on their next reload.
 */
export async function applyWhitelistChange(
  store: Store,
  op: 'add' | 'remove',
  kind: WhitelistKind,
  rawValue: string,
  actor: string,
  at: number,
  /** Why, as the operator gave it (the console asks for one). */
  reason?: string,
): Promise<{ changed: boolean; value: string }> {
  const value = kind === 'domain' ? rawValue.toLowerCase() : kind === 'user' ? normaliseUserRule(rawValue) : rawValue;
  if (value === '') throw new PolicyChangeError('empty value');
  if (kind === 'domain' && !DOMAIN_RULE.test(value)) throw new PolicyChangeError(`not a domain rule: '${rawValue}' (expected example.org or *.example.org)`);
  const changed =
    op === 'add'
      ? (await store.whitelist()).every((e) => e.kind !== kind || e.value !== value) && (await store.putWhitelistEntry({ kind, value, addedAt: at, addedBy: actor }), true)
      : await store.deleteWhitelistEntry(kind, value);
  const detail = [reason?.trim(), changed ? undefined : op === 'add' ? 'already listed' : 'no such entry'].filter(Boolean).join('; ');
  await store.appendAudit({ at, actor, action: `whitelist.${op}`, subject: `${kind}:${value}`, detail: detail || undefined });
  return { changed, value };
}

export class PolicyService {
  private policy: Policy;
  /** group id -> member user ids; a group not (yet) read has no members (deny by default). */
  private members = new Map<string, ReadonlySet<string>>();
  private timers: NodeJS.Timeout[] = [];
  private readonly now: () => number;
  /** The licence's limit on remote domain rules, counted across the node's tenants. */
  private readonly budget: RemoteDomainBudget;
  private readonly tenant: string;
  /** The ignored rules last logged: the error is written when they change, not at every reload. */
  private ignoredLogged = '';
  private stored: readonly { kind: WhitelistKind; value: string }[] = [];

  constructor(private readonly o: PolicyServiceOptions) {
    this.now = o.now ?? Date.now;
    this.budget = o.domainBudget ?? new RemoteDomainBudget();
    this.tenant = o.tenant ?? 'default';
    // Another tenant's rules changed what this one may use (the cap counts them all).
    this.budget.register(this.tenant, () => (this.policy = this.compose(this.stored)));
    this.policy = this.compose([]);
  }

  private compose(stored: readonly { kind: WhitelistKind; value: string }[]): Policy {
    const c = this.o.config;
    const of = (kind: WhitelistKind) => stored.filter((e) => e.kind === kind).map((e) => e.value);
    const pairing: PairingRule[] = c.pairing.map((r) => ({ domains: r.domains, users: new Set(r.users.map(normaliseUserRule)), groups: new Set(r.groups) }));
    const listed = [...c.domains, ...of('domain')];
    // The licence caps federated domains across the node's tenants: the first rules (tenants in configuration
    // order; configuration, then oldest run-time entries) apply.
    this.budget.update(this.tenant, listed);
    const domains = this.budget.kept(listed);
    const ignored = listed.filter((d) => !domains.includes(d));
    if (ignored.length > 0 && ignored.join(' ') !== this.ignoredLogged) {
      this.o.log.error('more remote domain rules than the licence allows (counted across tenants); the rest are ignored', { allowed: this.budget.cap, configured: listed.length, ignored });
    }
    this.ignoredLogged = ignored.join(' ');
    return {
      domains,
      domainCheck: compileDomainRules(domains),
      users: { users: new Set([...c.users, ...of('user')].map(normaliseUserRule)), groups: new Set([...c.groups, ...of('group')]) },
      pairing,
    };
  }

  /** Re-reads the run-time lists from the store. */
  async reload(): Promise<void> {
    this.stored = await this.o.store.whitelist();
    this.policy = this.compose(this.stored);
  }

  /** Applies the licence's `maxRemoteDomains` (from the cluster licence; undefined lifts the limit). */
  setDomainLimit(limit: number | undefined): void {
    this.budget.setLimit(limit);
  }

  /** Re-reads the members of every group the policy names (whitelist and pairing rules). */
  async refreshGroups(): Promise<void> {
    const groups = new Set([...this.policy.users.groups, ...this.policy.pairing.flatMap((r) => [...r.groups]), ...(this.o.extraGroups?.() ?? [])]);
    const next = new Map<string, ReadonlySet<string>>();
    for (const g of groups) {
      try {
        next.set(g, new Set(await this.o.teams.groupMemberIds(g)));
      } catch (err) {
        // Keep the last known members rather than locking everyone out on a Graph hiccup.
        const last = this.members.get(g);
        if (last) next.set(g, last);
        this.o.log.warn('could not read the members of a whitelisted group', { groupId: g, error: errorMessage(err) });
      }
    }
    this.members = next;
  }

  private groupsOf(userId: string): ReadonlySet<string> {
    const out = new Set<string>();
    for (const [g, m] of this.members) if (m.has(userId)) out.add(g);
    return out;
  }

  /** Cheap, before any lookup: stanzas from other domains are refused without touching Graph. */
  domainAllowed(domain: string): boolean {
    return this.policy.domainCheck ? this.policy.domainCheck(domain) : false;
  }

  /** The groups (of those read) the user is a member of. */
  groupsOfUser(userId: string): ReadonlySet<string> {
    return this.groupsOf(userId);
  }

  /** The user half of {@link verdict}: the user is on the whitelist (by UPN, id or group). */
  userAllowed(user: TeamsIdentity): boolean {
    return userMatches(this.policy.users, user, this.groupsOf(user.id));
  }

  verdict(user: TeamsIdentity, remoteDomain: string): Verdict {
    return mayFederate(this.policy, user, this.groupsOf(user.id), remoteDomain);
  }

  /** Adds or removes a run-time entry, with an audit record, and applies it on this node at once. */
  async change(op: 'add' | 'remove', kind: WhitelistKind, rawValue: string, actor: string, reason?: string): Promise<boolean> {
    if (op === 'add' && kind === 'domain') {
      const inUse = this.budget.wouldExceed(rawValue.trim().toLowerCase());
      if (inUse !== undefined) throw new PolicyChangeError(`the licence allows ${this.budget.cap ?? inUse} remote domain rules and ${inUse} are in use (counted across tenants)`);
    }
    const { changed, value } = await applyWhitelistChange(this.o.store, op, kind, rawValue, actor, this.now(), reason);
    await this.reload();
    if (kind === 'group' && op === 'add') await this.refreshGroups();
    this.o.log.info('whitelist changed', { op, kind, value, actor });
    return changed;
  }

  async entries(): Promise<{ source: 'config' | 'store'; kind: WhitelistKind; value: string }[]> {
    const c = this.o.config;
    return [
      ...c.domains.map((value) => ({ source: 'config' as const, kind: 'domain' as const, value })),
      ...c.users.map((value) => ({ source: 'config' as const, kind: 'user' as const, value })),
      ...c.groups.map((value) => ({ source: 'config' as const, kind: 'group' as const, value })),
      ...(await this.o.store.whitelist()).map((e) => ({ source: 'store' as const, kind: e.kind, value: e.value })),
    ];
  }

  async start(): Promise<void> {
    await this.reload();
    await this.refreshGroups();
    const every = (seconds: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.o.log.warn('policy refresh failed', { error: errorMessage(err) })), seconds * 1000);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.config.reloadSeconds, () => this.reload());
    every(this.o.config.groupRefreshSeconds, () => this.refreshGroups());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** The tenant leaves the node (removed at run time): its rules stop counting against the licence's cap. */
  leave(): void {
    this.stop();
    this.budget.unregister(this.tenant);
  }
}
