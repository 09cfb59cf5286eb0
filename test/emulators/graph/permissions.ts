/**
 * Which permissions each emulated operation accepts, one row per operation with the Learn page it comes from.
 * A token passes when it carries any listed permission of its kind (roles for app-only tokens, scp for delegated
 * ones); 'unsupported' means Graph refuses that token kind outright. Rows were checked against Learn's
 * "Permissions" tables (least privileged + higher privileged columns). Permissions that only exist as
 * resource-specific consent (RSC: *.Chat, *.WhereInstalled) are listed for the error text; the emulator never puts
 * them in a token unless an app is configured with them.
 *
 * Refusals have two shapes:
 * - directory (Entra ID) APIs: 403 Authorization_RequestDenied "Insufficient privileges to complete the operation."
 * - Teams and presence APIs: 403 Forbidden "Missing role permissions on the request. API requires one of '...'.
 *   Roles on the request '...'." (scope/Scopes for delegated tokens).
 */
import { faults, GraphFault } from './errors.js';
import type { AuthContext } from './tokens.js';

type Allowed = readonly string[] | 'unsupported';

interface PermissionRule {
  readonly learn: string;
  readonly style: 'directory' | 'teams';
  readonly delegated: Allowed;
  readonly application: Allowed;
}

const PRESENCE_WRITE = { style: 'teams', delegated: ['Presence.ReadWrite'], application: ['Presence.ReadWrite.All'] } as const;

export const PERMISSIONS = {
  /** GET /users/{other user}. */
  'user.read': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-get',
    style: 'directory',
    delegated: ['User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    application: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  },
  /** GET /users/{the signed-in user} and GET /me: User.Read covers one's own profile. */
  'user.readSelf': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-get',
    style: 'directory',
    delegated: ['User.Read', 'User.ReadWrite', 'User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    application: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  },
  'user.list': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-list',
    style: 'directory',
    delegated: ['User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    application: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  },
  'user.create': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-post-users',
    style: 'directory',
    delegated: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
    application: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  },
  /** PATCH /users/{other user}. */
  'user.update': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-update',
    style: 'directory',
    delegated: ['User.ReadWrite.All', 'Directory.ReadWrite.All', 'Directory.AccessAsUser.All'],
    application: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  },
  /** PATCH /users/{the signed-in user} and PATCH /me: User.ReadWrite covers one's own profile. */
  'user.updateSelf': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-update',
    style: 'directory',
    delegated: ['User.ReadWrite', 'User.ReadWrite.All', 'Directory.ReadWrite.All', 'Directory.AccessAsUser.All'],
    application: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  },
  /**
   * GET /users/{id}/photo, /photo/$value, /photos, /photos/{size}, /photos/{size}/$value ("To retrieve the profile
   * photo of a user": least privileged ProfilePhoto.Read.All, higher ProfilePhoto.ReadWrite.All, User.Read,
   * User.ReadBasic.All, User.Read.All, User.ReadWrite, User.ReadWrite.All; application ProfilePhoto.Read.All, higher
   * ProfilePhoto.ReadWrite.All, User.Read.All, User.ReadWrite.All). Learn does not document the refusal's shape; the
   * directory one is used.
   */
  'user.photo.read': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/profilephoto-get',
    style: 'directory',
    delegated: ['ProfilePhoto.Read.All', 'ProfilePhoto.ReadWrite.All', 'User.Read', 'User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite', 'User.ReadWrite.All'],
    application: ['ProfilePhoto.Read.All', 'ProfilePhoto.ReadWrite.All', 'User.Read.All', 'User.ReadWrite.All'],
  },
  /**
   * PUT|PATCH /users/{the signed-in user}/photo/$value and /me/photo/$value ("Profile photo of the signed-in user -
   * User.ReadWrite, User.ReadWrite.All"; ProfilePhoto.ReadWrite.All in the current table).
   */
  'user.photo.updateSelf': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/profilephoto-update',
    style: 'directory',
    delegated: ['ProfilePhoto.ReadWrite.All', 'User.ReadWrite', 'User.ReadWrite.All'],
    application: ['ProfilePhoto.ReadWrite.All', 'User.ReadWrite.All'],
  },
  /**
   * Another user's photo: "To update the photo of any user in the organization, your app must have the
   * User.ReadWrite.All application permission"; delegated ProfilePhoto.ReadWrite.All or User.ReadWrite.All (Entra
   * would also require an admin role of the signed-in user, which the emulator does not model).
   */
  'user.photo.update': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/profilephoto-update',
    style: 'directory',
    delegated: ['ProfilePhoto.ReadWrite.All', 'User.ReadWrite.All'],
    application: ['ProfilePhoto.ReadWrite.All', 'User.ReadWrite.All'],
  },
  /** GET /users/{id}/licenseDetails ("Application: User.Read.All"; delegated User.Read for one's own). */
  'user.licenseDetails': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails',
    style: 'directory',
    delegated: ['User.Read', 'User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    application: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  },
  /** GET /organization (delegated User.Read: any signed-in member reads its own organization). */
  'organization.read': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/organization-get',
    style: 'directory',
    delegated: ['User.Read', 'Organization.Read.All', 'Directory.Read.All', 'Organization.ReadWrite.All', 'Directory.ReadWrite.All'],
    application: ['Organization.Read.All', 'Directory.Read.All', 'Organization.ReadWrite.All', 'Directory.ReadWrite.All'],
  },
  'group.addMember': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/group-post-members',
    style: 'directory',
    delegated: ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
    application: ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  },
  /** Learn lists the same permissions for both kinds (Directory.ReadWrite.All is not among them). */
  'group.listMembers': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/group-list-members',
    style: 'directory',
    delegated: ['GroupMember.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'GroupMember.ReadWrite.All'],
    application: ['GroupMember.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'GroupMember.ReadWrite.All'],
  },
  'group.listTransitiveMembers': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers',
    style: 'directory',
    delegated: ['GroupMember.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'GroupMember.ReadWrite.All'],
    application: ['GroupMember.Read.All', 'Directory.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'GroupMember.ReadWrite.All'],
  },
  'chat.create': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-post',
    style: 'teams',
    delegated: ['Chat.Create', 'Chat.ReadWrite'],
    application: ['Chat.Create'],
  },
  'chat.markRead': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-markchatreadforuser',
    style: 'teams',
    delegated: ['Chat.ReadWrite'],
    application: [],
  },
  'chat.read': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-get',
    style: 'teams',
    delegated: ['Chat.ReadBasic', 'Chat.Read', 'Chat.ReadWrite'],
    application: [
      'Chat.ReadBasic.WhereInstalled',
      'Chat.Manage.Chat',
      'Chat.Read.All',
      'Chat.ReadBasic.All',
      'Chat.ReadWrite.All',
      'ChatSettings.Read.Chat',
      'ChatSettings.ReadWrite.Chat',
    ],
  },
  'chat.members': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-list-members',
    style: 'teams',
    delegated: ['Chat.ReadBasic', 'ChatMember.Read', 'ChatMember.ReadWrite', 'Chat.Read', 'Chat.ReadWrite'],
    application: ['ChatMember.Read.All', 'ChatMember.ReadWrite.All', 'Chat.Manage.Chat', 'Chat.Read.All', 'Chat.ReadBasic.All', 'Chat.ReadWrite.All'],
  },
  /** Application permission is for message import into chats in migration mode only. */
  'chat.sendMessage': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-post-messages',
    style: 'teams',
    delegated: ['ChatMessage.Send', 'Chat.ReadWrite', 'Group.ReadWrite.All'],
    application: ['Teamwork.Migrate.All'],
  },
  'chat.readMessages': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chat-list-messages',
    style: 'teams',
    delegated: ['Chat.Read', 'Chat.ReadWrite'],
    application: ['ChatMessage.Read.Chat', 'Chat.Read.All', 'Chat.ReadWrite.All'],
  },
  /** GET .../hostedContents, .../hostedContents/{id} and .../hostedContents/{id}/$value ("Permissions for chat"). */
  'chatMessage.hostedContents': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessagehostedcontent-get',
    style: 'teams',
    delegated: ['Chat.Read', 'Chat.ReadWrite'],
    application: ['Chat.Read.All', 'Chat.ReadWrite.All'],
  },
  /**
   * PATCH /chats/{id}/messages/{id} ("Permissions for chat"): delegated Chat.ReadWrite may update any property but
   * policyViolation; application Chat.UpdatePolicyViolation.All or Chat.ReadWrite.All only policyViolation.
   */
  'chatMessage.update': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-update',
    style: 'teams',
    delegated: ['Chat.ReadWrite'],
    application: ['Chat.UpdatePolicyViolation.All', 'Chat.ReadWrite.All'],
  },
  'chatMessage.softDelete': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-softdelete',
    style: 'teams',
    delegated: ['Chat.ReadWrite'],
    application: 'unsupported',
  },
  'chatMessage.undoSoftDelete': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-undosoftdelete',
    style: 'teams',
    delegated: ['Chat.ReadWrite'],
    application: 'unsupported',
  },
  'chatMessage.setReaction': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction',
    style: 'teams',
    delegated: ['Chat.ReadWrite', 'ChatMessage.Send'],
    application: 'unsupported',
  },
  'chatMessage.unsetReaction': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-unsetreaction',
    style: 'teams',
    delegated: ['Chat.ReadWrite', 'ChatMessage.Send'],
    application: 'unsupported',
  },
  /** POST /chats/{id}/messages/replyWithQuote: ChatMessage.Send, "Higher privileged permissions: Not available". */
  'chatMessage.replyWithQuote': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote',
    style: 'teams',
    delegated: ['ChatMessage.Send'],
    application: 'unsupported',
  },
  /** Another user's presence; Presence.Read covers only one's own. */
  'presence.read': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/presence-get',
    style: 'teams',
    delegated: ['Presence.Read.All'],
    application: ['Presence.Read.All', 'Presence.ReadWrite.All'],
  },
  'presence.readSelf': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/presence-get',
    style: 'teams',
    delegated: ['Presence.Read', 'Presence.Read.All'],
    application: ['Presence.Read.All', 'Presence.ReadWrite.All'],
  },
  'presence.readMany': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/cloudcommunications-getpresencesbyuserid',
    style: 'teams',
    delegated: ['Presence.Read.All'],
    application: ['Presence.Read.All', 'Presence.ReadWrite.All'],
  },
  'presence.setPresence': { learn: 'https://learn.microsoft.com/en-us/graph/api/presence-setpresence', ...PRESENCE_WRITE },
  'presence.clearPresence': { learn: 'https://learn.microsoft.com/en-us/graph/api/presence-clearpresence', ...PRESENCE_WRITE },
  'presence.setUserPreferredPresence': { learn: 'https://learn.microsoft.com/en-us/graph/api/presence-setuserpreferredpresence', ...PRESENCE_WRITE },
  'presence.clearUserPreferredPresence': { learn: 'https://learn.microsoft.com/en-us/graph/api/presence-clearuserpreferredpresence', ...PRESENCE_WRITE },
  'presence.setStatusMessage': { learn: 'https://learn.microsoft.com/en-us/graph/api/presence-setstatusmessage', ...PRESENCE_WRITE },
  /** Subscription to /users/{id}/chats/getAllMessages (delegated: only the signed-in user's own id). */
  'subscription.userChatMessages': {
    learn: 'https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage#subscribe-to-changes-at-the-user-level',
    style: 'teams',
    delegated: ['Chat.Read', 'Chat.ReadWrite'],
    application: ['Chat.Read.All', 'Chat.ReadWrite.All'],
  },
  /** Subscription to /chats/{id}/messages. */
  'subscription.chatMessages': {
    learn: 'https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage#subscribe-to-messages-in-a-chat',
    style: 'teams',
    delegated: ['Chat.Read', 'Chat.ReadWrite'],
    application: ['ChatMessage.Read.Chat', 'Chat.Read.All', 'Chat.ReadWrite.All'],
  },
  /** Subscription to /communications/presences/{id} or ?$filter=id in (...): delegated only. */
  'subscription.presence': {
    learn: 'https://learn.microsoft.com/en-us/graph/changenotifications-for-presence#permissions',
    style: 'teams',
    delegated: ['Presence.Read.All'],
    application: 'unsupported',
  },
  /**
   * Subscription to /users or /users/{id}. Learn's table names User.Read.All for delegated (work or school account)
   * and application tokens alike ("Creating a subscription requires read scope to the resource"; the table gives the
   * least privileged permission). The higher privileged permissions that read every user (user-get's table:
   * User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All) are accepted too. Learn documents no refusal
   * shape for it; the directory one is used.
   */
  'subscription.users': {
    learn: 'https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions#permissions',
    style: 'directory',
    delegated: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    application: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  },
} as const satisfies Record<string, PermissionRule>;

export type Operation = keyof typeof PERMISSIONS;

/** The permissions a token carries that the operation accepts (empty: refused). */
export function grantingPermissions(op: Operation, auth: AuthContext): string[] {
  const rule: PermissionRule = PERMISSIONS[op];
  const allowed = auth.kind === 'app' ? rule.application : rule.delegated;
  if (allowed === 'unsupported') return [];
  const held = new Set((auth.kind === 'app' ? auth.roles : auth.scopes).map((p) => p.toLowerCase()));
  return allowed.filter((p) => held.has(p.toLowerCase()));
}

/** Throws Graph's 403 when the token lacks every permission the operation accepts for its kind. */
export function authorize(op: Operation, auth: AuthContext): void {
  if (grantingPermissions(op, auth).length > 0) return;
  const rule: PermissionRule = PERMISSIONS[op];
  if (rule.style === 'directory') throw faults.directoryDenied();
  const allowed = auth.kind === 'app' ? rule.application : rule.delegated;
  if (allowed === 'unsupported') {
    throw new GraphFault(
      403,
      'Forbidden',
      auth.kind === 'app'
        ? 'This operation does not support application permissions; it requires a delegated (signed-in user) token.'
        : 'This operation does not support delegated permissions; it requires an application token.',
    );
  }
  if (auth.kind === 'app') {
    throw faults.forbidden(`Missing role permissions on the request. API requires one of '${allowed.join(', ')}'. Roles on the request '${auth.roles.join(', ')}'.`);
  }
  throw faults.forbidden(`Missing scope permissions on the request. API requires one of '${allowed.join(', ')}'. Scopes on the request '${auth.scopes.join(', ')}'.`);
}
