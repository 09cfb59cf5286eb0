/**
 * Teams users as XMPP addresses: localpart <-> user, with a small cache so that a burst of stanzas to one user
 * costs one Graph lookup. The user lookup is an input path an XMPP user drives, so it is bounded (issue 12):
 *
 * - a lookup that would reach Graph is paid from a budget per sender and per remote domain (LookupBudget), and
 *   "no such user" is remembered, so random addresses cannot starve the tenant's Graph quota (finding 6);
 * - the gateway's own accounts (the puppet UPN domain) are never Teams users to XMPP, nor are guests (#EXT#)
 *   unless allowed, so the tenant cannot be used as an XMPP-to-XMPP relay (finding 11);
 * - the user Graph returns must be the one asked for (finding 4: a crafted UPN must not select another user).
 */
import { localpartToUpn, upnToLocalpart, type AddressBook } from '../protocol/teams-address.js';
import type { TeamsPort, TeamsUser } from './teams-port.js';

interface Entry {
  readonly user: TeamsUser | undefined;
  readonly expires: number;
}

/** Lookups in flight, shared so that stanzas arriving together continue in arrival order after one Graph read. */
type Pending = Map<string, Promise<TeamsUser | undefined>>;

/** Who asks: the lookup's cost is charged to them. */
export interface LookupPayer {
  /** Bare JID of the XMPP sender. */
  readonly sender: string;
  readonly domain: string;
}

/** Lookups that reach Graph (or the SfB pool, issue 17), per sender and per remote domain. */
export interface LookupBudget {
  /** Takes one lookup from the sender's and the domain's budget; false when either is spent. */
  admit(payer: LookupPayer, asks?: 'graph' | 'sfb-pool'): Promise<boolean>;
}

/** The sender's (or their domain's) lookup budget is spent for now: the stanza gets <resource-constraint/>. */
export class LookupRefusedError extends Error {
  constructor(readonly payer: LookupPayer) {
    super(`directory lookups of ${payer.sender} (or ${payer.domain}) over the limit`);
    this.name = 'LookupRefusedError';
  }
}

export interface DirectoryOptions {
  readonly teams: TeamsPort;
  readonly book: AddressBook;
  readonly componentDomain: string;
  /** The UPN domain of the accounts that represent XMPP users: never a Teams user to XMPP. */
  readonly puppetUpnDomain: string;
  /** Guest accounts (UPN with #EXT#) are addressable only when allowed. */
  readonly allowGuests?: boolean;
  readonly budget?: LookupBudget | undefined;
  readonly positiveTtlMs?: number;
  readonly negativeTtlMs?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
  /** Told when Graph answered with another user than the one asked for. */
  readonly onMismatch?: (asked: string, got: string) => void;
}

export class Directory {
  private readonly byUpn = new Map<string, Entry>();
  private readonly byIdCache = new Map<string, Entry>();
  private readonly pending: Pending = new Map();
  private readonly now: () => number;
  private readonly puppetSuffix: string;

  constructor(private readonly o: DirectoryOptions) {
    this.now = o.now ?? Date.now;
    this.puppetSuffix = `@${o.puppetUpnDomain.toLowerCase()}`;
  }

  /** The JID a Teams user has on the gateway's domain. */
  jidOf(user: TeamsUser): string {
    return `${upnToLocalpart(user.upn, this.o.book)}@${this.o.componentDomain}`;
  }

  /**
   * The Teams user a localpart names, or undefined when there is none (Graph 404, unmappable localpart, or an
   * account XMPP may not address). With a payer, a lookup that reaches Graph is charged to them first; throws
   * {@link LookupRefusedError} when their budget is spent.
   */
  async byLocalpart(localpart: string, payer?: LookupPayer): Promise<TeamsUser | undefined> {
    const upn = localpartToUpn(localpart, this.o.book)?.toLowerCase();
    if (upn === undefined || !this.addressable(upn)) return undefined;
    const user = await this.cached(this.byUpn, upn, () => this.o.teams.userByUpn(upn), payer);
    if (user && user.upn.toLowerCase() !== upn) {
      // Graph matched something else than the UPN asked for: never answer with another user's existence.
      this.o.onMismatch?.(upn, user.upn);
      return undefined;
    }
    return user;
  }

  async byId(id: string): Promise<TeamsUser | undefined> {
    const user = await this.cached(this.byIdCache, id, () => this.o.teams.userById(id));
    return user && this.addressable(user.upn.toLowerCase()) ? user : undefined;
  }

  /** Whether XMPP users may address this UPN at all: not the gateway's own accounts, not guests unless allowed. */
  private addressable(upn: string): boolean {
    if (upn.endsWith(this.puppetSuffix)) return false;
    if (!this.o.allowGuests && upn.includes('#ext#')) return false;
    return true;
  }

  private async cached(map: Map<string, Entry>, key: string, load: () => Promise<TeamsUser | undefined>, payer?: LookupPayer): Promise<TeamsUser | undefined> {
    const hit = map.get(key);
    if (hit && hit.expires > this.now()) return hit.user;
    const pendingKey = `${map === this.byUpn ? 'upn' : 'id'}:${key}`;
    const inFlight = this.pending.get(pendingKey);
    if (inFlight) return inFlight;
    if (payer && this.o.budget && !(await this.o.budget.admit(payer))) throw new LookupRefusedError(payer);
    // Another stanza may have started the same lookup while this one was being admitted.
    const started = this.pending.get(pendingKey);
    if (started) return started;
    const loading = load();
    this.pending.set(pendingKey, loading);
    let user: TeamsUser | undefined;
    try {
      user = await loading;
    } finally {
      this.pending.delete(pendingKey);
    }
    const now = this.now();
    // Graph matches UPNs case-insensitively; a hit must also be the same user (a UPN can be reassigned).
    const ttl = user ? (this.o.positiveTtlMs ?? 300_000) : (this.o.negativeTtlMs ?? 600_000);
    this.remember(map, key, { user, expires: now + ttl });
    if (user) {
      this.remember(this.byIdCache, user.id, { user, expires: now + ttl });
      this.remember(this.byUpn, user.upn.toLowerCase(), { user, expires: now + ttl });
    }
    return user;
  }

  /** Bounded: the oldest entry goes first (a flood of unknown addresses cannot grow the cache). */
  private remember(map: Map<string, Entry>, key: string, entry: Entry): void {
    map.delete(key);
    if (map.size >= (this.o.maxEntries ?? 50_000)) map.delete(map.keys().next().value as string);
    map.set(key, entry);
  }
}
