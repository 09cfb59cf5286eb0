/**
 * The tenant's directory (Entra ID): users and groups, and the rules Graph applies when creating a user
 * (https://learn.microsoft.com/en-us/graph/api/user-post-users: required accountEnabled, displayName,
 * mailNickname, userPrincipalName, passwordProfile; UPN domain must be a verified domain of the tenant; UPNs are
 * unique, compared case-insensitively), adding a group member
 * (https://learn.microsoft.com/en-us/graph/api/group-post-members), and listing a group's direct and transitive
 * members (https://learn.microsoft.com/en-us/graph/api/group-list-members,
 * https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers). Groups may contain users and groups.
 *
 * Eventual consistency: Entra replicates writes asynchronously, so "a newly created object [may] return a Not Found"
 * (https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/). A user made by
 * POST /users is invisible to Graph reads and references for `replicationMs` (isVisible).
 *
 * Licences: seeded users hold a Teams licence of their own (unless `licensed: false`); any other user holds none
 * until it is a member of a group with a licence (group-based licensing,
 * https://learn.microsoft.com/en-us/entra/identity/users/licensing-groups-assign), and then only `licenceMs` after
 * it joined: assignment through a group is processed in the background and takes a while. Learn gives no figure for
 * either delay; both are options so that tests can choose them.
 */
import { randomUUID } from 'node:crypto';
import { faults } from './errors.js';
import { isGuid } from './ids.js';
import type { EmulatedGroup, EmulatedUser } from './types.js';

export interface DirectoryGroup {
  readonly id: string;
  readonly displayName: string;
  readonly mailNickname: string;
  readonly createdDateTime: string;
  /** Direct members' object ids (users and groups), canonical case. */
  readonly members: Set<string>;
  /** The group carries a licence with Microsoft Teams (group-based licensing). */
  readonly licensed: boolean;
}

export interface DirectoryTimings {
  /** How long a user created through Graph stays invisible to reads and references. */
  readonly replicationMs: number;
  /** How long after joining a licensed group a user's licence becomes active. */
  readonly licenceMs: number;
  readonly now?: () => number;
}

/** What a group's member list holds. */
export type DirectoryObject = { readonly kind: 'user'; readonly user: DirectoryUser } | { readonly kind: 'group'; readonly group: DirectoryGroup };

export interface DirectoryUser {
  readonly id: string;
  readonly userPrincipalName: string;
  readonly displayName: string;
  readonly password: string | undefined;
  readonly accountEnabled: boolean;
  readonly givenName: string | null;
  readonly surname: string | null;
  readonly jobTitle: string | null;
  readonly mail: string | null;
  readonly companyName: string | null;
  readonly mailNickname: string | null;
  readonly usageLocation: string | null;
  readonly passwordPolicies: string | null;
  readonly department: string | null;
  readonly officeLocation: string | null;
  readonly mobilePhone: string | null;
  readonly preferredLanguage: string | null;
  readonly businessPhones: readonly string[];
  readonly aboutMe: string | null;
  readonly createdDateTime: string;
}

/** The properties GET /users returns without $select (v1.0 default set). */
export const DEFAULT_USER_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
] as const;

export const SELECTABLE_USER_PROPERTIES: ReadonlySet<string> = new Set<string>([
  ...DEFAULT_USER_PROPERTIES,
  'aboutMe',
  'accountEnabled',
  'companyName',
  'createdDateTime',
  'department',
  'mailNickname',
  'passwordPolicies',
  'usageLocation',
  'userType',
]);

/** Properties POST /users may carry (a subset of microsoft.graph.user that the emulator keeps). */
const CREATABLE = new Set([
  'accountEnabled',
  'displayName',
  'mailNickname',
  'userPrincipalName',
  'passwordProfile',
  'passwordPolicies',
  'givenName',
  'surname',
  'jobTitle',
  'mail',
  'companyName',
  'usageLocation',
  'department',
  'officeLocation',
  'mobilePhone',
  'preferredLanguage',
  'businessPhones',
]);

/**
 * Properties PATCH /users/{id} may change (https://learn.microsoft.com/en-us/graph/api/user-update): the profile
 * fields a contact card shows, and a few more. Others that Graph accepts are refused as not emulated.
 */
const UPDATABLE = new Set([
  'accountEnabled',
  'displayName',
  'givenName',
  'surname',
  'jobTitle',
  'department',
  'companyName',
  'officeLocation',
  'mobilePhone',
  'businessPhones',
  'aboutMe',
  'mail',
  'preferredLanguage',
  'usageLocation',
]);

/** Never writable (Graph: read-only). */
const READ_ONLY = new Set(['id', 'createdDateTime']);

/**
 * Entra's password rule for cloud accounts: 8-256 characters, three of lower case, upper case, digits, symbols
 * (https://learn.microsoft.com/en-us/entra/identity/authentication/concept-password-ban-bad-combined-policy).
 */
function passwordComplies(p: string): boolean {
  if (p.length < 8 || p.length > 256) return false;
  const classes = [/[a-z]/u, /[A-Z]/u, /[0-9]/u, /[^A-Za-z0-9]/u].filter((r) => r.test(p)).length;
  return classes >= 3;
}

function optString(body: Record<string, unknown>, key: string): string | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw faults.directoryBadRequest(`Invalid value specified for property '${key}' of resource 'User'.`);
  return v;
}

export class Directory {
  private readonly users = new Map<string, DirectoryUser>();
  private readonly groups = new Map<string, DirectoryGroup>();
  private readonly verifiedDomains: Set<string>;
  private readonly listeners: ((user: DirectoryUser) => void)[] = [];
  /** Users created through Graph: when they become visible. */
  private readonly visibleFrom = new Map<string, number>();
  /** Seeded users without a licence; every other seeded user has one. */
  private readonly unlicensedSeeds = new Set<string>();
  /** Users created through Graph: neither seeded nor licensed until a licensed group brings one. */
  private readonly created = new Set<string>();
  /** When each user joined each group: `${groupId}|${userId}`, lower case. */
  private readonly joinedAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    users: readonly EmulatedUser[],
    groups: readonly EmulatedGroup[],
    verifiedDomains: readonly string[],
    private readonly timings: DirectoryTimings = { replicationMs: 0, licenceMs: 0 },
  ) {
    this.now = timings.now ?? Date.now;
    this.verifiedDomains = new Set(verifiedDomains.map((d) => d.toLowerCase()));
    for (const u of users) {
      const added = this.add(u);
      if (u.licensed === false) this.unlicensedSeeds.add(added.id.toLowerCase());
    }
    for (const g of groups) {
      if (this.groups.has(g.id.toLowerCase()) || this.byId(g.id)) throw new Error(`duplicate object id ${g.id}`);
      this.groups.set(g.id.toLowerCase(), {
        id: g.id,
        displayName: g.displayName,
        mailNickname: g.displayName.replace(/[^A-Za-z0-9._-]/gu, '') || g.id,
        createdDateTime: new Date().toISOString().replace(/\.\d{3}Z$/u, 'Z'),
        members: new Set(),
        licensed: g.licensed === true,
      });
    }
    // Every group exists before members are added: groups may contain groups listed after them.
    for (const g of groups) for (const m of g.members ?? []) this.addMember(g.id, m);
  }

  private add(u: EmulatedUser): DirectoryUser {
    const user: DirectoryUser = {
      id: u.id ?? randomUUID(),
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName,
      password: u.password,
      accountEnabled: true,
      givenName: u.givenName ?? null,
      surname: u.surname ?? null,
      jobTitle: u.jobTitle ?? null,
      mail: u.mail ?? null,
      companyName: u.companyName ?? null,
      mailNickname: u.userPrincipalName.split('@')[0] ?? null,
      usageLocation: null,
      passwordPolicies: null,
      department: u.department ?? null,
      officeLocation: u.officeLocation ?? null,
      mobilePhone: u.mobilePhone ?? null,
      preferredLanguage: null,
      businessPhones: [...(u.businessPhones ?? [])],
      aboutMe: u.aboutMe ?? null,
      createdDateTime: new Date().toISOString().replace(/\.\d{3}Z$/u, 'Z'),
    };
    if (this.byUpn(user.userPrincipalName)) throw new Error(`duplicate user ${user.userPrincipalName}`);
    this.users.set(user.id.toLowerCase(), user);
    return user;
  }

  /**
   * Called after a user was created (POST /users) or its profile changed (PATCH /users/{id}): change notifications.
   * Learn: "Creation and soft-deletion of users also trigger the updated changeType"
   * (https://learn.microsoft.com/en-us/graph/change-notifications-overview#supported-resources).
   */
  onUserChange(listener: (user: DirectoryUser) => void): void {
    this.listeners.push(listener);
  }

  private emit(user: DirectoryUser): void {
    for (const l of this.listeners) l(user);
  }

  all(): DirectoryUser[] {
    return [...this.users.values()];
  }

  /** Whether Graph's reads see the user yet (users created through Graph appear after replicationMs). */
  isVisible(u: DirectoryUser): boolean {
    return (this.visibleFrom.get(u.id.toLowerCase()) ?? 0) <= this.now();
  }

  /** Whether the user holds an active Teams licence now. */
  licenceActive(userId: string): boolean {
    const id = userId.toLowerCase();
    if (!this.created.has(id) && !this.unlicensedSeeds.has(id)) return true;
    const now = this.now();
    for (const g of this.groups.values()) {
      if (!g.licensed) continue;
      const at = this.joinedAt.get(`${g.id.toLowerCase()}|${id}`);
      if (at !== undefined && [...g.members].some((m) => m.toLowerCase() === id) && at + this.timings.licenceMs <= now) return true;
    }
    return false;
  }

  byId(id: string): DirectoryUser | undefined {
    return this.users.get(id.toLowerCase());
  }

  byUpn(upn: string): DirectoryUser | undefined {
    const key = upn.toLowerCase();
    return this.all().find((u) => u.userPrincipalName.toLowerCase() === key);
  }

  /** GET /users/{id | userPrincipalName} accepts either key. */
  find(idOrUpn: string): DirectoryUser | undefined {
    return (isGuid(idOrUpn) ? this.byId(idOrUpn) : undefined) ?? this.byUpn(idOrUpn);
  }

  /**
   * The loose lookup of the control API and CLI: id, UPN, or a case-insensitive display-name (or UPN) prefix that
   * names exactly one user.
   */
  resolve(query: string): DirectoryUser {
    const exact = this.find(query);
    if (exact) return exact;
    const q = query.toLowerCase();
    const hits = this.all().filter((u) => u.displayName.toLowerCase().startsWith(q) || u.userPrincipalName.toLowerCase().startsWith(q));
    if (hits.length === 1) return hits[0] as DirectoryUser;
    if (hits.length === 0) throw new Error(`no Teams user matches '${query}'`);
    throw new Error(`'${query}' matches several users: ${hits.map((u) => u.userPrincipalName).join(', ')}`);
  }

  /** The JSON Graph returns for a user; `select` limits it ($select). */
  toJson(u: DirectoryUser, select: readonly string[] | undefined): Record<string, unknown> {
    const full: Record<string, unknown> = { ...u, userType: 'Member' };
    delete full.password;
    const out: Record<string, unknown> = {};
    for (const k of select ?? DEFAULT_USER_PROPERTIES) out[k] = full[k] ?? null;
    return out;
  }

  /** POST /users. Validation order and messages follow what Graph answers. */
  create(body: unknown): DirectoryUser {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw faults.malformedJson();
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (!CREATABLE.has(k) && !k.startsWith('@odata')) {
        throw faults.directoryBadRequest(`Property '${k}' is read-only or does not exist on type 'microsoft.graph.user'.`);
      }
    }
    if (typeof b.accountEnabled !== 'boolean') throw faults.directoryBadRequest("Invalid value specified for property 'accountEnabled' of resource 'User'.");
    for (const k of ['displayName', 'mailNickname', 'userPrincipalName']) {
      const v = b[k];
      if (typeof v !== 'string' || v.trim() === '') throw faults.directoryBadRequest(`Invalid value specified for property '${k}' of resource 'User'.`);
    }
    const upn = b.userPrincipalName as string;
    const profile = b.passwordProfile as { password?: unknown } | undefined;
    if (typeof profile !== 'object' || profile === null || typeof profile.password !== 'string' || profile.password === '') {
      throw faults.directoryBadRequest('A password must be specified to create a new user.');
    }
    const at = upn.lastIndexOf('@');
    const domain = at > 0 ? upn.slice(at + 1).toLowerCase() : '';
    if (!/^[A-Za-z0-9'._!#^~-]+@[A-Za-z0-9.-]+$/u.test(upn) || !this.verifiedDomains.has(domain)) {
      throw faults.directoryBadRequest(
        'The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.',
      );
    }
    if (this.byUpn(upn)) throw faults.directoryBadRequest('Another object with the same value for property userPrincipalName already exists.');
    if (!passwordComplies(profile.password)) {
      throw faults.directoryBadRequest('The specified password does not comply with password complexity requirements. Please provide a different password.');
    }
    const phones = b.businessPhones;
    const user: DirectoryUser = {
      ...this.add({ userPrincipalName: upn, displayName: b.displayName as string, password: profile.password }),
      accountEnabled: b.accountEnabled,
      givenName: optString(b, 'givenName'),
      surname: optString(b, 'surname'),
      jobTitle: optString(b, 'jobTitle'),
      mail: optString(b, 'mail'),
      companyName: optString(b, 'companyName'),
      mailNickname: b.mailNickname as string,
      usageLocation: optString(b, 'usageLocation'),
      passwordPolicies: optString(b, 'passwordPolicies'),
      department: optString(b, 'department'),
      officeLocation: optString(b, 'officeLocation'),
      mobilePhone: optString(b, 'mobilePhone'),
      preferredLanguage: optString(b, 'preferredLanguage'),
      businessPhones: Array.isArray(phones) ? phones.filter((p): p is string => typeof p === 'string') : [],
      aboutMe: null,
    };
    this.users.set(user.id.toLowerCase(), user);
    this.created.add(user.id.toLowerCase());
    this.visibleFrom.set(user.id.toLowerCase(), this.now() + this.timings.replicationMs);
    this.emit(user);
    return user;
  }

  /**
   * PATCH /users/{id}: only the properties in the body change; null clears one, except displayName ("it cannot be
   * cleared during updates"). businessPhones: "Although this is a string collection, only one number can be set for
   * this property." (https://learn.microsoft.com/en-us/graph/api/user-update).
   */
  update(target: DirectoryUser, body: unknown): DirectoryUser {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw faults.malformedJson();
    const b = body as Record<string, unknown>;
    const invalid = (k: string) => faults.directoryBadRequest(`Invalid value specified for property '${k}' of resource 'User'.`);
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(b)) {
      if (k.startsWith('@odata')) continue;
      if (READ_ONLY.has(k) || (!UPDATABLE.has(k) && !SELECTABLE_USER_PROPERTIES.has(k))) {
        throw faults.directoryBadRequest(`Property '${k}' is read-only or does not exist on type 'microsoft.graph.user'.`);
      }
      if (!UPDATABLE.has(k)) throw faults.directoryBadRequest(`The Graph emulator does not update the property '${k}'.`);
      if (k === 'accountEnabled') {
        if (typeof v !== 'boolean') throw invalid(k);
      } else if (k === 'businessPhones') {
        if (v !== null && (!Array.isArray(v) || v.length > 1 || v.some((p) => typeof p !== 'string'))) throw invalid(k);
      } else if (k === 'displayName') {
        if (typeof v !== 'string' || v.trim() === '') throw invalid(k);
      } else if (v !== null && typeof v !== 'string') {
        throw invalid(k);
      }
      changes[k] = k === 'businessPhones' ? [...((v as string[] | null) ?? [])] : v;
    }
    const current = this.byId(target.id);
    if (!current) throw faults.directoryNotFound(target.id);
    const user = { ...current, ...changes } as DirectoryUser;
    this.users.set(user.id.toLowerCase(), user);
    this.emit(user);
    return user;
  }

  group(id: string): DirectoryGroup | undefined {
    return this.groups.get(id.toLowerCase());
  }

  /** A group member named by object id (user or group) or by user principal name. */
  private memberObject(idOrUpn: string): DirectoryObject | undefined {
    const g = this.group(idOrUpn);
    if (g) return { kind: 'group', group: g };
    const u = this.find(idOrUpn);
    return u ? { kind: 'user', user: u } : undefined;
  }

  private objectId(o: DirectoryObject): string {
    return o.kind === 'user' ? o.user.id : o.group.id;
  }

  /** The direct members' object ids (users and groups), in the order they were added. */
  groupMembers(groupId: string): string[] | undefined {
    const g = this.group(groupId);
    return g ? [...g.members] : undefined;
  }

  /** GET /groups/{id}/members: direct members, users and groups. */
  members(g: DirectoryGroup): DirectoryObject[] {
    return [...g.members].flatMap((id) => {
      const o = this.memberObject(id);
      return o ? [o] : [];
    });
  }

  /**
   * GET /groups/{id}/transitiveMembers: the direct members, then the members of nested groups (breadth first), each
   * object once; nested groups are listed too. Membership cycles end where an object was already listed.
   */
  transitiveMembers(g: DirectoryGroup): DirectoryObject[] {
    const out: DirectoryObject[] = [];
    const seen = new Set<string>([g.id.toLowerCase()]);
    const queue: DirectoryGroup[] = [g];
    for (let next = queue.shift(); next; next = queue.shift()) {
      for (const o of this.members(next)) {
        const key = this.objectId(o).toLowerCase();
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(o);
        if (o.kind === 'group') queue.push(o.group);
      }
    }
    return out;
  }

  /** The groups a user belongs to, directly or through nested groups (what a token's groups claim lists). */
  groupIdsOf(userId: string): string[] {
    const id = userId.toLowerCase();
    return [...this.groups.values()].filter((g) => this.transitiveMembers(g).some((o) => o.kind === 'user' && o.user.id.toLowerCase() === id)).map((g) => g.id);
  }

  /** A member of a directoryObject collection: `@odata.type`, then the type's properties (`select` limits them). */
  objectJson(o: DirectoryObject, select: readonly string[] | undefined): Record<string, unknown> {
    if (o.kind === 'user') {
      return { '@odata.type': '#microsoft.graph.user', ...this.toJson(o.user, select?.filter((p) => SELECTABLE_USER_PROPERTIES.has(p))) };
    }
    const full: Record<string, unknown> = {
      id: o.group.id,
      deletedDateTime: null,
      classification: null,
      createdDateTime: o.group.createdDateTime,
      description: null,
      displayName: o.group.displayName,
      groupTypes: [],
      mail: null,
      mailEnabled: false,
      mailNickname: o.group.mailNickname,
      securityEnabled: true,
      visibility: null,
    };
    const out: Record<string, unknown> = { '@odata.type': '#microsoft.graph.group' };
    for (const k of select?.filter((p) => p in full) ?? Object.keys(full)) out[k] = full[k];
    return out;
  }

  /**
   * Adds a member (user id or UPN, or group id) to a group: the emulator's own API and the groups option. Plain
   * errors, not Graph faults.
   */
  addMember(groupId: string, member: string): void {
    const g = this.group(groupId);
    if (!g) throw new Error(`no group '${groupId}'`);
    const o = this.memberObject(member);
    if (!o) throw new Error(`no user or group '${member}'`);
    const id = this.objectId(o);
    if (id.toLowerCase() === g.id.toLowerCase()) throw new Error(`group '${g.id}' cannot be a member of itself`);
    if (g.members.has(id)) throw new Error(`'${member}' is already a member of group '${g.id}'`);
    g.members.add(id);
    this.joinedAt.set(`${g.id.toLowerCase()}|${id.toLowerCase()}`, this.now());
  }

  removeMember(groupId: string, member: string): void {
    const g = this.group(groupId);
    if (!g) throw new Error(`no group '${groupId}'`);
    const o = this.memberObject(member);
    if (!o || !g.members.delete(this.objectId(o))) throw new Error(`'${member}' is not a member of group '${g.id}'`);
  }

  /** POST /groups/{id}/members/$ref with {"@odata.id": ".../directoryObjects/{id}"} (a user or a group). */
  addMemberRef(groupId: string, body: unknown, graphUrl: string): void {
    const g = this.group(groupId);
    if (!g) throw faults.directoryNotFound(groupId);
    const ref = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['@odata.id'] : undefined;
    if (typeof ref !== 'string') throw faults.directoryBadRequest("Invalid value specified for property '@odata.id'.");
    // The reference names the Graph host of the cloud in use (https://graph.microsoft.com/v1.0/directoryObjects/{id}
    // in Learn's global-cloud example); the emulator is that host.
    if (!ref.toLowerCase().startsWith(`${graphUrl}/v1.0/`.toLowerCase())) throw faults.directoryBadRequest(`Invalid object identifier '${ref}': it must name ${graphUrl}/v1.0/.`);
    const m = /\/(?:directoryObjects|users|groups)(?:\/|\(')([^/'()]+)(?:'\))?\/?$/u.exec(ref);
    if (!m) throw faults.directoryBadRequest(`Invalid object identifier '${ref}'.`);
    const memberId = decodeURIComponent(m[1] as string);
    const user = this.byId(memberId);
    const target = (user && this.isVisible(user) ? user.id : undefined) ?? this.group(memberId)?.id;
    if (!target) throw faults.directoryNotFound(memberId);
    // The emulator's wording: Learn does not document Graph's answer to a group added to itself.
    if (target.toLowerCase() === g.id.toLowerCase()) throw faults.directoryBadRequest('A group cannot be added as a member of itself.');
    if (g.members.has(target)) {
      throw faults.directoryBadRequest("One or more added object references already exist for the following modified properties: 'members'.");
    }
    g.members.add(target);
    this.joinedAt.set(`${g.id.toLowerCase()}|${target.toLowerCase()}`, this.now());
  }
}
