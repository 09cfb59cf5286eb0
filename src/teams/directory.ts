/**
 * Teams users as XMPP addresses: localpart <-> user, with a small cache so that a burst of stanzas to one user
 * costs one Graph lookup, and so that unknown localparts do not become a way to hammer Graph.
 */
import { localpartToUpn, upnToLocalpart, type AddressBook } from '../protocol/teams-address.js';
import type { TeamsPort, TeamsUser } from './teams-port.js';

interface Entry {
  readonly user: TeamsUser | undefined;
  readonly expires: number;
}

/** Lookups in flight, shared so that stanzas arriving together continue in arrival order after one Graph read. */
type Pending = Map<string, Promise<TeamsUser | undefined>>;

export interface DirectoryOptions {
  readonly teams: TeamsPort;
  readonly book: AddressBook;
  readonly componentDomain: string;
  readonly positiveTtlMs?: number;
  readonly negativeTtlMs?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class Directory {
  private readonly byUpn = new Map<string, Entry>();
  private readonly byIdCache = new Map<string, Entry>();
  private readonly pending: Pending = new Map();
  private readonly now: () => number;

  constructor(private readonly o: DirectoryOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The JID a Teams user has on the gateway's domain. */
  jidOf(user: TeamsUser): string {
    return `${upnToLocalpart(user.upn, this.o.book)}@${this.o.componentDomain}`;
  }

  /** The Teams user a localpart names, or undefined when there is none (Graph 404 or unmappable localpart). */
  async byLocalpart(localpart: string): Promise<TeamsUser | undefined> {
    const upn = localpartToUpn(localpart, this.o.book);
    if (upn === undefined) return undefined;
    return this.cached(this.byUpn, upn, () => this.o.teams.userByUpn(upn));
  }

  async byId(id: string): Promise<TeamsUser | undefined> {
    return this.cached(this.byIdCache, id, () => this.o.teams.userById(id));
  }

  private async cached(map: Map<string, Entry>, key: string, load: () => Promise<TeamsUser | undefined>): Promise<TeamsUser | undefined> {
    const hit = map.get(key);
    const now = this.now();
    if (hit && hit.expires > now) return hit.user;
    const pendingKey = `${map === this.byUpn ? 'upn' : 'id'}:${key}`;
    const inFlight = this.pending.get(pendingKey);
    if (inFlight) return inFlight;
    const loading = load();
    this.pending.set(pendingKey, loading);
    let user: TeamsUser | undefined;
    try {
      user = await loading;
    } finally {
      this.pending.delete(pendingKey);
    }
    // Graph matches UPNs case-insensitively; a hit must also be the same user (a UPN can be reassigned).
    const ttl = user ? (this.o.positiveTtlMs ?? 300_000) : (this.o.negativeTtlMs ?? 30_000);
    if (map.size >= (this.o.maxEntries ?? 50_000)) map.delete(map.keys().next().value as string);
    map.set(key, { user, expires: now + ttl });
    if (user) {
      this.byIdCache.set(user.id, { user, expires: now + ttl });
      this.byUpn.set(user.upn.toLowerCase(), { user, expires: now + ttl });
    }
    return user;
  }
}
