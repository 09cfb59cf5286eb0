/**
 * The licence's cap on remote domain rules (`terms.limits.maxRemoteDomains`, or evaluation mode's), counted across
 * every tenant of a node (issue 16, docs/licensing.md): the cap is on the remote domains the gateway federates with,
 * so a domain several tenants list counts once. Rules are admitted in a fixed order, the tenants in configuration
 * order and each tenant's rules as its whitelist lists them (configuration first, then the oldest run-time entries),
 * so every node admits the same ones. Pure bookkeeping; each tenant's whitelist asks it which of its rules apply.
 */

export class RemoteDomainBudget {
  private limit: number | undefined;
  /** Each tenant's rules, in registration (configuration) order. */
  private readonly lists = new Map<string, readonly string[]>();
  private readonly listeners = new Map<string, () => void>();
  private admittedSet = new Set<string>();

  /** A tenant's whitelist takes part; `changed` is called when what it may use changes because of another tenant. */
  register(tenant: string, changed: () => void): void {
    this.lists.set(tenant, this.lists.get(tenant) ?? []);
    this.listeners.set(tenant, changed);
  }

  /** A tenant leaves (removed at run time): its rules stop counting. */
  unregister(tenant: string): void {
    this.lists.delete(tenant);
    this.listeners.delete(tenant);
    this.recount(tenant);
  }

  /** The licence's cap (undefined: none). */
  setLimit(limit: number | undefined): void {
    if (limit === this.limit) return;
    this.limit = limit;
    this.recount(undefined);
  }

  get cap(): number | undefined {
    return this.limit;
  }

  /** A tenant's rules changed (configuration joined with its run-time entries). */
  update(tenant: string, domains: readonly string[]): void {
    const before = this.lists.get(tenant);
    if (before && before.length === domains.length && before.every((d, i) => d === domains[i])) return;
    this.lists.set(tenant, [...domains]);
    this.recount(tenant);
  }

  /** Which of the tenant's rules apply (in its order); the rest are over the cap. */
  kept(domains: readonly string[]): string[] {
    return this.limit === undefined ? [...domains] : domains.filter((d) => this.admittedSet.has(d));
  }

  /** Adding this rule would go over the cap: the distinct rules counted, or undefined when it fits. */
  wouldExceed(domain: string): number | undefined {
    if (this.limit === undefined || this.admittedSet.has(domain) || this.admittedSet.size < this.limit) return undefined;
    return this.admittedSet.size;
  }

  private recount(changedBy: string | undefined): void {
    const next = new Set<string>();
    for (const list of this.lists.values()) {
      for (const d of list) if (next.has(d) || this.limit === undefined || next.size < this.limit) next.add(d);
    }
    const same = next.size === this.admittedSet.size && [...next].every((d) => this.admittedSet.has(d));
    this.admittedSet = next;
    if (same && changedBy !== undefined) return;
    for (const [tenant, changed] of this.listeners) if (tenant !== changedBy) changed();
  }
}
