/**
 * Which XMPP user's account carries the presence subscription for which Teams users. Pure; table-tested.
 *
 * Graph's rules (https://learn.microsoft.com/en-us/graph/changenotifications-for-presence): presence subscriptions
 * are delegated only, "a single user can create one presence subscription per unique application" (a second is
 * refused with 409), and one subscription covers at most 650 users. So the gateway cannot have one subscription
 * per watched Teams user (each would need an owner of its own), nor one per XMPP user account covering all whom
 * its XMPP user watches (a Teams user watched by N XMPP users would then be notified N times, each notification a
 * webhook POST and, without resource data, a presence GET). Instead each watched Teams user is carried by exactly
 * one of her watchers' accounts, and a notification about her is fanned out to every XMPP user watching her. An
 * account carries at most 650 users, in its one presence subscription.
 *
 * Changing a subscription's users means deleting and re-creating it (Graph cannot change a subscription's
 * resource), with a gap in between, so the assignment moves as little as it can: a user stays with her carrier
 * while the carrier still watches her; a user without one goes to a watcher whose subscription changes anyway or
 * already exists (fewer subscriptions to renew every hour), else to her first watcher.
 */

export interface CarrierInput {
  /** Each watched Teams user, with the accounts (puppet user ids) of the XMPP users who watch her. */
  readonly watchers: ReadonlyMap<string, readonly string[]>;
  /** What each account's presence subscription covers now. */
  readonly current: ReadonlyMap<string, readonly string[]>;
  /** Users one subscription may cover (Graph: 650). */
  readonly capacity: number;
}

export interface CarrierPlan {
  /** What each account's subscription must cover (an empty list: no subscription). */
  readonly assignment: Map<string, string[]>;
  /** Accounts whose subscription must be re-created (or created, or deleted). */
  readonly changed: string[];
  /** Watched users no watcher has room to carry. */
  readonly uncarried: string[];
}

export function assignCarriers(input: CarrierInput): CarrierPlan {
  const load = new Map<string, Set<string>>();
  const carried = (p: string) => {
    let set = load.get(p);
    if (!set) {
      set = new Set();
      load.set(p, set);
    }
    return set;
  };
  const owner = new Map<string, string>();
  // Keep what still holds: the carrier still watches her (a user carried twice keeps the first carrier by id).
  for (const p of [...input.current.keys()].sort()) {
    for (const u of input.current.get(p) ?? []) {
      if (owner.has(u) || !(input.watchers.get(u) ?? []).includes(p) || carried(p).size >= input.capacity) continue;
      owner.set(u, p);
      carried(p).add(u);
    }
  }
  const changing = new Set<string>();
  const uncarried: string[] = [];
  for (const u of [...input.watchers.keys()].sort()) {
    if (owner.has(u)) continue;
    const size = (p: string) => load.get(p)?.size ?? 0;
    const candidates = [...new Set(input.watchers.get(u) ?? [])].sort().filter((p) => size(p) < input.capacity);
    const pick = candidates.find((p) => changing.has(p)) ?? candidates.find((p) => (input.current.get(p)?.length ?? 0) > 0 || size(p) > 0) ?? candidates[0];
    if (pick === undefined) {
      uncarried.push(u);
      continue;
    }
    owner.set(u, pick);
    carried(pick).add(u);
    changing.add(pick);
  }
  const assignment = new Map<string, string[]>();
  const changed: string[] = [];
  for (const p of new Set([...input.current.keys(), ...load.keys()])) {
    const next = [...(load.get(p) ?? [])].sort();
    const before = [...(input.current.get(p) ?? [])].sort();
    assignment.set(p, next);
    if (next.length !== before.length || next.some((u, i) => u !== before[i])) changed.push(p);
  }
  return { assignment, changed: changed.sort(), uncarried };
}
