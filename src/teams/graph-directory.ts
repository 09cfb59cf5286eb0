/**
 * Users and groups (application token, docs/teams-identity.md): look up Teams users, create the account that
 * represents an XMPP user and put it in its group, list a whitelisting group's members.
 *
 * Entra is eventually consistent: a user just created may read as 404, and a reference to it may be refused as
 * missing, for a while ("a newly created object to return a Not Found",
 * https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/). Such a
 * failure right after creation is transient: the caller tries again later.
 */
import { puppetDisplayName, puppetMailNickname, puppetPassword, puppetUpn } from '../protocol/puppet-identity.js';
import type { GraphContext } from './graph-context.js';
import { PROVISIONING_RETRY_MS } from './graph-context.js';
import { PROVISIONING, toTeamsError } from './graph-errors.js';
import { TeamsError, type Puppet, type TeamsUser } from './teams-port.js';

interface GraphUser {
  readonly id: string;
  readonly userPrincipalName: string;
  readonly displayName?: string | null;
}

const USER_FIELDS = ['id', 'userPrincipalName', 'displayName'];

/** Pauses between tries to add a new account to its group while it replicates (about 4 s in all). */
const JOIN_PAUSES_MS = [250, 500, 1000, 2000] as const;

function quoteODataString(s: string): string {
  return `'${s.replace(/'/gu, "''")}'`;
}

function toUser(u: GraphUser): TeamsUser {
  return { id: u.id, upn: u.userPrincipalName, displayName: u.displayName ?? undefined };
}

function notVisibleYet(what: string): TeamsError {
  return new TeamsError(`${what}: the new account is not visible in the directory yet`, 404, PROVISIONING, true, PROVISIONING_RETRY_MS);
}

export class GraphDirectory {
  constructor(private readonly g: GraphContext) {}

  /** GET /users/{id | userPrincipalName}; 404 means no such user. */
  private async getUser(idOrUpn: string): Promise<TeamsUser | undefined> {
    try {
      const u = (await this.g.clients.app().api(`/users/${encodeURIComponent(idOrUpn)}`).select(USER_FIELDS).get()) as GraphUser;
      return toUser(u);
    } catch (err) {
      const e = toTeamsError(err, 'look up a Teams user');
      if (e.status === 404) return undefined;
      throw e;
    }
  }

  async userByUpn(upn: string): Promise<TeamsUser | undefined> {
    // A UPN with a quote or slash cannot be used as a path key reliably; $filter takes any string. The client puts
    // the filter in the URL as given, so it is percent-encoded here: a UPN's own "%27" must stay text, not close
    // the string literal (https://learn.microsoft.com/en-us/graph/query-parameters#encoding-query-parameters).
    if (/[/'#?%]/u.test(upn)) {
      const r = (await this.g.call('look up a Teams user', () =>
        this.g.clients.app().api('/users').filter(encodeURIComponent(`userPrincipalName eq ${quoteODataString(upn)}`)).select(USER_FIELDS).get(),
      )) as { value: GraphUser[] };
      const u = r.value[0];
      return u ? toUser(u) : undefined;
    }
    return this.getUser(upn);
  }

  userById(id: string): Promise<TeamsUser | undefined> {
    return this.getUser(id);
  }

  /**
   * Finds the XMPP user's account, creating it (POST /users) on first contact, and makes sure it is in its group
   * (the group brings its Teams licence). Called once per account and node (the pair keeps the result in the store).
   */
  async ensurePuppet(remoteJid: string): Promise<Puppet> {
    const p = this.g.puppets;
    const upn = puppetUpn(remoteJid, p.upnDomain);
    const existing = await this.getUser(upn);
    if (existing) {
      const puppet = { remoteJid, userId: existing.id, upn: existing.upn };
      await this.joinGroup(puppet, false);
      return puppet;
    }
    const domain = remoteJid.slice(remoteJid.indexOf('@') + 1);
    const body = {
      accountEnabled: true,
      displayName: puppetDisplayName(remoteJid, p.displayNameSuffix),
      mailNickname: puppetMailNickname(upn),
      userPrincipalName: upn,
      companyName: domain,
      ...(p.usageLocation ? { usageLocation: p.usageLocation } : {}),
      passwordPolicies: 'DisablePasswordExpiration',
      passwordProfile: { forceChangePasswordNextSignIn: false, password: puppetPassword(p.passwordSecret(), upn) },
    };
    let created: GraphUser;
    try {
      created = (await this.g.clients.app().api('/users').post(body)) as GraphUser;
    } catch (err) {
      const e = toTeamsError(err, 'create the Teams account of an XMPP user');
      if (e.status !== 400) throw e;
      // Created by another node (or an earlier try) between the lookup and the POST, maybe not yet readable here.
      const again = await this.getUser(upn);
      if (!again) throw notVisibleYet('create the Teams account of an XMPP user');
      const puppet = { remoteJid, userId: again.id, upn: again.upn };
      await this.joinGroup(puppet, true);
      return puppet;
    }
    this.g.log.info('created the Teams account of an XMPP user', { remoteJid, userId: created.id, upn });
    const puppet = { remoteJid, userId: created.id, upn: created.userPrincipalName };
    // Replication usually takes a moment: wait for it here a few times before handing the wait to the caller.
    for (const pause of JOIN_PAUSES_MS) {
      try {
        await this.joinGroup(puppet, true);
        return puppet;
      } catch (err) {
        if (!(err instanceof TeamsError && err.code === PROVISIONING)) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
    await this.joinGroup(puppet, true);
    return puppet;
  }

  /**
   * POST /groups/{id}/members/$ref (https://learn.microsoft.com/en-us/graph/api/group-post-members): 400 when the
   * account already is a member, 404 while a new account is not replicated yet.
   */
  private async joinGroup(puppet: Puppet, isNew: boolean): Promise<void> {
    const groupId = this.g.puppets.groupId;
    if (!groupId) return;
    try {
      await this.g.call('add the XMPP user account to its group', () =>
        this.g.clients
          .app()
          .api(`/groups/${encodeURIComponent(groupId)}/members/$ref`)
          .post({ '@odata.id': this.g.odataUrl(`directoryObjects/${puppet.userId}`) }),
      );
    } catch (err) {
      if (err instanceof TeamsError && err.status === 400 && /already exist/iu.test(err.message)) return;
      if (err instanceof TeamsError && err.status === 404 && isNew) throw notVisibleYet('add the XMPP user account to its group');
      throw err;
    }
  }

  /** https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers (app GroupMember.Read.All); all pages. */
  async groupMemberIds(groupId: string): Promise<string[]> {
    const ids: string[] = [];
    let page = (await this.g.call('read group members', () =>
      this.g.clients.app().api(`/groups/${encodeURIComponent(groupId)}/transitiveMembers`).select(['id']).top(999).get(),
    )) as { value: { id: string; '@odata.type'?: string }[]; '@odata.nextLink'?: string };
    for (;;) {
      for (const m of page.value) if (!m['@odata.type'] || m['@odata.type'] === '#microsoft.graph.user') ids.push(m.id);
      const next = page['@odata.nextLink'];
      if (!next) return ids;
      page = (await this.g.call('read group members', () => this.g.clients.app().api(next).get())) as typeof page;
    }
  }
}
