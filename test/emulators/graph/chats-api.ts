/**
 * Teams chat endpoints:
 * - POST /chats (oneOnOne only; https://learn.microsoft.com/en-us/graph/api/chat-post): 201 with the new chat,
 *   or with the existing one, since "only one one-on-one chat can exist between two members". With a delegated
 *   token the signed-in user must be one of the members ("Every user who will participate in the chat, including
 *   the user who initiates the create request, must be specified").
 * - GET /chats/{id} (https://learn.microsoft.com/en-us/graph/api/chat-get), GET /chats/{id}/members
 *   (https://learn.microsoft.com/en-us/graph/api/chat-list-members).
 * - POST /chats/{id}/messages (https://learn.microsoft.com/en-us/graph/api/chat-post-messages): delegated only in
 *   practice, the application permission being for importing messages into chats in migration mode. A post is at
 *   most about 28 KB (https://learn.microsoft.com/en-us/microsoftteams/limits-specifications-teams#chat); beyond it
 *   Graph answers 413 Request Entity Too Large.
 * - GET /chats/{id}/messages ($top at most 50, newest first, nextLink paging;
 *   https://learn.microsoft.com/en-us/graph/api/chat-list-messages) and GET /chats/{id}/messages/{id}
 *   (https://learn.microsoft.com/en-us/graph/api/chatmessage-get).
 * - Attachments on POST (https://learn.microsoft.com/en-us/graph/api/chatmessage-post, "Send message containing
 *   cards": "the attachment's ID must be the same in the body and attachments elements"): each attachment needs an
 *   <attachment id="..."></attachment> tag in the body; a messageReference attachment (a quoted message, as
 *   replyWithQuote makes them) must carry JSON content naming a message of the same chat ({"messageId": ...}).
 * - POST /chats/{id}/messages/replyWithQuote {messageIds (1-10), replyMessage}
 *   (https://learn.microsoft.com/en-us/graph/api/chatmessage-replywithquote): 201 with the new message, whose body
 *   starts with an attachment tag per quoted message and whose attachments are messageReference ones.
 * - PATCH /chats/{id}/messages/{id} (https://learn.microsoft.com/en-us/graph/api/chatmessage-update): delegated,
 *   "all properties of a chatMessage can be updated" except policyViolation, 204; application, "Only the
 *   policyViolation property", 200. The emulator applies body and attachments (an edit: lastEditedDateTime) and ignores
 *   the other properties Learn's examples send back unchanged (messageType, from, mentions, reactions...). Only the
 *   sender may edit its message: Learn says so of DLP updates ("Only the user in the tenant who sent the message can
 *   perform data loss prevention (DLP) updates"); for edits it is the Teams rule, enforced here with 403.
 * - POST .../softDelete and .../undoSoftDelete (https://learn.microsoft.com/en-us/graph/api/chatmessage-softdelete,
 *   https://learn.microsoft.com/en-us/graph/api/chatmessage-undosoftdelete): 204, delegated Chat.ReadWrite only, at
 *   the path Learn documents, /users/{userId}/chats/{chatId}/messages/{id}/...; /chats/{chatId}/messages/{id}/... is
 *   not documented and answers as an unknown segment. The sender only may (un)delete (the Teams rule; not on Learn).
 * - POST .../setReaction and .../unsetReaction {reactionType}
 *   (https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction,
 *   https://learn.microsoft.com/en-us/graph/api/chatmessage-unsetreaction): 204, any member, one reaction of a type
 *   per user (setting it again or unsetting one not set changes nothing). The reaction is a Unicode emoji; the
 *   classic names (like, heart, ...) are only what Graph returns when reading older reactions, so setReaction
 *   refuses them with 400, and unsetReaction of an emoji also takes back its classic-name twin.
 * - GET /chats/{id}/messages/{id}/hostedContents (https://learn.microsoft.com/en-us/graph/api/chatmessage-list-hostedcontents),
 *   GET .../hostedContents/{id} and GET .../hostedContents/{id}/$value
 *   (https://learn.microsoft.com/en-us/graph/api/chatmessagehostedcontent-get): the list and the entity carry id only,
 *   "contentBytes and contentType are always set to null"; $value answers the bytes, "content-type header specifies
 *   the kind of hosted content". Any member of the chat (delegated Chat.Read), or an app with Chat.Read.All. A
 *   hosted content the message does not have, or any of a deleted message, is 404 (the emulator's choice: Learn does
 *   not say).
 * Editing a soft-deleted message or reacting to it is refused with 400; softDelete of a deleted message and
 * undoSoftDelete of a live one change nothing (204). Both are the emulator's choices (not on Learn).
 * With a delegated token, reading a chat or posting in it requires the signed-in user to be a member.
 */
import { isLegacyReaction, isReactionType, type ChatStore, type StoredChat, type StoredHostedContent, type StoredMessage } from './chats.js';
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { odataContext, type GraphRequest, type Route } from './graph-router.js';
import { htmlToText } from './html-text.js';
import { nextLink, parseTop, skipOf } from './odata.js';
import { authorize, type Operation } from './permissions.js';
import { requireTeamsLicence } from './teams-licence.js';
import type { EmulatedAttachment, EmulatedMessage } from './types.js';

/** At most 10 quoted messages (replyWithQuote: "a maximum of 10 messages can be used for the reply"). */
const MAX_QUOTED = 10;

function escapeHtml(s: string): string {
  return s.replace(/&/gu, '&amp;').replace(/</gu, '&lt;').replace(/>/gu, '&gt;').replace(/"/gu, '&quot;');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
}

/** About 28 KB per post (Teams limits); measured on the body content. */
export const MAX_MESSAGE_BYTES = 28 * 1024;

export function chatRoutes(directory: Directory, chats: ChatStore, url: string): Route[] {
  const chatFor = (req: GraphRequest, id = req.params[0] as string): StoredChat => {
    const chat = chats.get(id);
    if (!chat) throw faults.notFound(`Chat '${id}' was not found.`);
    if (req.auth.kind === 'delegated' && !chats.isMember(chat, req.auth.userId ?? '')) throw faults.forbidden('The signed-in user is not a member of this chat.');
    if (req.auth.kind === 'delegated') requireTeamsLicence(directory, req.auth.userId ?? '');
    return chat;
  };

  const memberOf = (m: unknown, i: number): DirectoryUser => {
    if (typeof m !== 'object' || m === null) throw faults.badRequest(`members[${i}] must be an object.`);
    const o = m as Record<string, unknown>;
    if (typeof o['@odata.type'] !== 'string' || o['@odata.type'].toLowerCase() !== '#microsoft.graph.aaduserconversationmember') {
      throw faults.badRequest(`members[${i}] must be a #microsoft.graph.aadUserConversationMember.`);
    }
    const roles = o.roles;
    if (!Array.isArray(roles) || !roles.some((r) => r === 'owner' || r === 'guest')) throw faults.badRequest(`members[${i}] must have the role 'owner' or 'guest'.`);
    const bind = o['user@odata.bind'];
    // Learn writes https://graph.microsoft.com/v1.0/users('{id}'): the Graph host of the cloud in use, here the
    // emulator's own URL. Another host (another cloud) is refused.
    const m2 = typeof bind === 'string' && bind.toLowerCase().startsWith(`${url}/v1.0/`.toLowerCase()) ? /\/users(?:\('([^']+)'\)|\/([^/?'()]+))\/?$/u.exec(bind) : null;
    if (!m2) throw faults.badRequest(`members[${i}] must carry user@odata.bind "${url}/v1.0/users('{id}')".`);
    const key = decodeURIComponent((m2[1] ?? m2[2]) as string);
    const user = directory.find(key);
    if (!user || !directory.isVisible(user)) throw faults.notFound(`The user '${key}' in members[${i}] was not found.`);
    return user;
  };

  const messageBody = (body: unknown): EmulatedMessage['body'] => {
    if (typeof body !== 'object' || body === null) throw faults.malformedJson();
    const b = (body as Record<string, unknown>).body;
    if (typeof b !== 'object' || b === null) throw faults.badRequest('Invalid request body was sent.');
    const content = (b as Record<string, unknown>).content;
    const type = (b as Record<string, unknown>).contentType ?? 'text';
    if (typeof content !== 'string' || content.trim() === '') throw faults.badRequest('Invalid request body was sent.');
    if (typeof type !== 'string' || !['html', 'text'].includes(type.toLowerCase())) throw faults.badRequest(`Invalid contentType '${String(type)}'.`);
    if (Buffer.byteLength(content, 'utf8') > MAX_MESSAGE_BYTES) throw new GraphFault(413, 'RequestEntityTooLarge', 'Request Entity Too Large');
    return { contentType: type.toLowerCase() === 'html' ? 'html' : 'text', content };
  };

  const optString = (o: Record<string, unknown>, key: string, where: string): string | null => {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw faults.badRequest(`${where}.${key} must be a string.`);
    return v;
  };

  /** The attachments of a posted or patched message; `content` is the message body they must appear in. */
  const attachmentsOf = (raw: unknown, chat: StoredChat, content: string): EmulatedAttachment[] => {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) throw faults.badRequest('attachments must be an array.');
    const seen = new Set<string>();
    return raw.map((a: unknown, i) => {
      const where = `attachments[${i}]`;
      if (typeof a !== 'object' || a === null || Array.isArray(a)) throw faults.badRequest(`${where} must be an object.`);
      const o = a as Record<string, unknown>;
      const id = optString(o, 'id', where);
      const contentType = optString(o, 'contentType', where);
      if (!id) throw faults.badRequest(`${where}.id is required.`);
      if (!contentType) throw faults.badRequest(`${where}.contentType is required.`);
      if (seen.has(id)) throw faults.badRequest(`Attachment id '${id}' is used twice.`);
      seen.add(id);
      if (!new RegExp(`<attachment\\s+id=["']${escapeRegExp(id)}["']\\s*>\\s*</attachment>`, 'u').test(content)) {
        throw faults.badRequest(`Attachment '${id}' is not referenced in the message body: it must contain <attachment id="${id}"></attachment>.`);
      }
      const attachment: EmulatedAttachment = {
        id,
        contentType,
        content: optString(o, 'content', where),
        contentUrl: optString(o, 'contentUrl', where),
        name: optString(o, 'name', where),
        thumbnailUrl: optString(o, 'thumbnailUrl', where),
        teamsAppId: optString(o, 'teamsAppId', where),
      };
      if (contentType === 'messageReference') {
        let ref: unknown;
        try {
          ref = JSON.parse(attachment.content ?? '');
        } catch {
          throw faults.badRequest(`${where}: the content of a messageReference attachment must be a JSON string.`);
        }
        const messageId = typeof ref === 'object' && ref !== null ? (ref as Record<string, unknown>).messageId : undefined;
        if (typeof messageId !== 'string' || !chats.message(chat, messageId)) {
          throw faults.badRequest(`${where}: the messageReference content must name a message of this chat in messageId.`);
        }
      }
      return attachment;
    });
  };

  const messageFor = (chat: StoredChat, mid: string): StoredMessage => {
    const m = chats.message(chat, mid);
    if (!m) throw faults.notFound(`Message '${mid}' was not found in chat '${chat.id}'.`);
    return m;
  };

  const notDeleted = (m: StoredMessage): void => {
    if (m.deletedMs !== null) throw faults.badRequest(`Message '${m.id}' has been deleted.`);
  };

  const signedIn = (req: GraphRequest): DirectoryUser => {
    const user = directory.byId(req.auth.userId ?? '');
    if (!user) throw faults.forbidden('The signed-in user does not exist.');
    return user;
  };

  /** softDelete / undoSoftDelete at /users/{userId}/chats/{chatId}/messages/{id}/..., the path Learn documents. */
  const deletion = (req: GraphRequest, op: Operation & ('chatMessage.softDelete' | 'chatMessage.undoSoftDelete'), userKey: string, chatId: string, mid: string) => {
    authorize(op, req.auth);
    const user = directory.find(userKey);
    if (!user) throw faults.directoryNotFound(userKey);
    // The emulator's rule: with a delegated token the path names the signed-in user.
    if (user.id.toLowerCase() !== req.auth.userId?.toLowerCase()) throw faults.forbidden('The user in the path must be the signed-in user.');
    const chat = chatFor(req, chatId);
    const m = messageFor(chat, mid);
    if (m.from.userId.toLowerCase() !== req.auth.userId?.toLowerCase()) throw faults.forbidden('Only the sender of a message can delete or restore it.');
    if (op === 'chatMessage.softDelete') chats.softDelete(chat, m);
    else chats.undoSoftDelete(chat, m);
    return { status: 204 };
  };

  const hosted = (req: GraphRequest): { chat: StoredChat; m: StoredMessage; h: StoredHostedContent } => {
    authorize('chatMessage.hostedContents', req.auth);
    const chat = chatFor(req);
    const m = messageFor(chat, req.params[1] as string);
    const h = m.deletedMs === null ? m.hostedContents.find((x) => x.id === req.params[2]) : undefined;
    if (!h) throw faults.notFound(`Hosted content '${req.params[2] as string}' was not found in message '${m.id}'.`);
    return { chat, m, h };
  };

  const reaction = (req: GraphRequest, op: 'chatMessage.setReaction' | 'chatMessage.unsetReaction') => {
    authorize(op, req.auth);
    const chat = chatFor(req);
    const m = messageFor(chat, req.params[1] as string);
    const b = req.json();
    const type = typeof b === 'object' && b !== null ? (b as Record<string, unknown>).reactionType : undefined;
    if (typeof type !== 'string' || type === '') throw faults.badRequest("The 'reactionType' property is required.");
    if (!isReactionType(type) || isLegacyReaction(type)) throw faults.badRequest(`Invalid reactionType '${type}': supply a Unicode emoji.`);
    notDeleted(m);
    const user = signedIn(req);
    if (op === 'chatMessage.setReaction') chats.setReaction(chat, m, user.id, type);
    else chats.unsetReaction(chat, m, user.id, type);
    return { status: 204 };
  };

  return [
    {
      method: 'POST',
      path: 'chats',
      handle: (req) => {
        authorize('chat.create', req.auth);
        const b = req.json();
        if (typeof b !== 'object' || b === null || Array.isArray(b)) throw faults.malformedJson();
        const body = b as Record<string, unknown>;
        if (body.chatType !== 'oneOnOne') {
          throw faults.badRequest(body.chatType === 'group' ? 'The Graph emulator supports only oneOnOne chats.' : `Invalid chatType '${String(body.chatType)}'.`);
        }
        if (!Array.isArray(body.members) || body.members.length !== 2) throw faults.badRequest('A oneOnOne chat must have exactly two members.');
        const [a, c] = [memberOf(body.members[0], 0), memberOf(body.members[1], 1)];
        if (a.id === c.id) throw faults.badRequest('The two members of a oneOnOne chat must be different users.');
        requireTeamsLicence(directory, a.id);
        requireTeamsLicence(directory, c.id);
        if (req.auth.kind === 'delegated' && ![a.id, c.id].some((id) => id.toLowerCase() === req.auth.userId?.toLowerCase())) {
          throw faults.forbidden('The signed-in user must be one of the members of the chat it creates.');
        }
        const { chat } = chats.ensureOneOnOne(a.id, c.id);
        return { status: 201, body: { '@odata.context': odataContext(url, 'chats/$entity'), ...chats.chatJson(chat) } };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id',
      handle: (req) => {
        authorize('chat.read', req.auth);
        const chat = chatFor(req);
        return { status: 200, body: { '@odata.context': odataContext(url, 'chats/$entity'), ...chats.chatJson(chat) } };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id/members',
      handle: (req) => {
        authorize('chat.members', req.auth);
        const chat = chatFor(req);
        return {
          status: 200,
          body: {
            '@odata.context': odataContext(url, `chats('${chat.id}')/members`),
            '@odata.count': chat.memberIds.length,
            value: chat.memberIds.map((id) => chats.memberJson(chat, id)),
          },
        };
      },
    },
    {
      // https://learn.microsoft.com/en-us/graph/api/chat-markchatreadforuser: delegated only; 204. That only the
      // signed-in member may mark the chat read for themselves is the emulator's reading, not stated on Learn.
      method: 'POST',
      path: 'chats/:id/markChatReadForUser',
      handle: (req) => {
        authorize('chat.markRead', req.auth);
        const chat = chatFor(req);
        const user = ((req.json() ?? {}) as { user?: { id?: unknown } }).user;
        if (typeof user?.id !== 'string') throw faults.badRequest('user.id is required.');
        if (user.id !== req.auth.userId) throw faults.forbidden('A chat can be marked read only for the signed-in user.');
        chat.readUpTo = { ...(chat.readUpTo ?? {}), [user.id]: Date.now() };
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: 'chats/:id/messages',
      handle: (req) => {
        authorize('chat.sendMessage', req.auth);
        const chat = chatFor(req);
        if (req.auth.kind === 'app') {
          // The message Graph returns to an app posting outside an import (migration) session.
          throw faults.forbidden(
            'Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details.',
          );
        }
        const sender = signedIn(req);
        const body = messageBody(req.json());
        const attachments = attachmentsOf((req.json() as Record<string, unknown>).attachments, chat, body.content);
        const m = chats.addMessage(chat, sender, body, attachments);
        return { status: 201, body: { '@odata.context': odataContext(url, `chats('${chat.id}')/messages/$entity`), ...chats.messageJson(m) } };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id/messages',
      handle: (req) => {
        authorize('chat.readMessages', req.auth);
        const chat = chatFor(req);
        const top = parseTop(req.query, 20, 50);
        const skip = skipOf(req.query);
        const newestFirst = [...chat.messages].reverse();
        const body: Record<string, unknown> = { '@odata.context': odataContext(url, `chats('${chat.id}')/messages`), '@odata.count': Math.min(top, Math.max(0, newestFirst.length - skip)) };
        if (skip + top < newestFirst.length) body['@odata.nextLink'] = nextLink(url, `/v1.0/chats/${encodeURIComponent(chat.id)}/messages`, req.query, skip + top);
        body.value = newestFirst.slice(skip, skip + top).map((m) => chats.messageJson(m));
        return { status: 200, body };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id/messages/:mid',
      handle: (req) => {
        authorize('chat.readMessages', req.auth);
        const chat = chatFor(req);
        const m = messageFor(chat, req.params[1] as string);
        return { status: 200, body: { '@odata.context': odataContext(url, `chats('${chat.id}')/messages/$entity`), ...chats.messageJson(m) } };
      },
    },
    {
      method: 'POST',
      path: 'chats/:id/messages/replyWithQuote',
      handle: (req) => {
        authorize('chatMessage.replyWithQuote', req.auth);
        const chat = chatFor(req);
        const sender = signedIn(req);
        const b = req.json();
        if (typeof b !== 'object' || b === null || Array.isArray(b)) throw faults.malformedJson();
        const { messageIds, replyMessage } = b as Record<string, unknown>;
        if (!Array.isArray(messageIds) || messageIds.length === 0 || messageIds.some((id) => typeof id !== 'string')) {
          throw faults.badRequest("The 'messageIds' property must list the ids of the quoted messages.");
        }
        if (messageIds.length > MAX_QUOTED) throw faults.badRequest(`At most ${MAX_QUOTED} messages can be quoted in a reply.`);
        const quoted = (messageIds as string[]).map((id) => messageFor(chat, id));
        quoted.forEach(notDeleted);
        const reply = messageBody(replyMessage);
        const preview = (q: StoredMessage) => (q.body.contentType === 'html' ? htmlToText(q.body.content) : q.body.content);
        const text = reply.contentType === 'html' ? reply.content : escapeHtml(reply.content);
        const content = `<p></p>\n${quoted.map((q) => `<attachment id="${q.id}"></attachment>`).join('\n')}\n${text}\n<p></p>`;
        const m = chats.addMessage(chat, sender, { contentType: 'html', content }, quoted.map((q) => chats.quoteAttachment(q, preview(q))));
        return { status: 201, body: { '@odata.context': odataContext(url, `chats('${chat.id}')/messages/$entity`), ...chats.messageJson(m) } };
      },
    },
    {
      method: 'PATCH',
      path: 'chats/:id/messages/:mid',
      handle: (req) => {
        authorize('chatMessage.update', req.auth);
        const chat = chatFor(req);
        const m = messageFor(chat, req.params[1] as string);
        const b = req.json();
        if (typeof b !== 'object' || b === null || Array.isArray(b)) throw faults.malformedJson();
        const patch = b as Record<string, unknown>;
        if (req.auth.kind === 'app') {
          const others = Object.keys(patch).filter((k) => k !== 'policyViolation' && !k.startsWith('@odata'));
          if (others.length > 0) {
            throw faults.forbidden(`Only the policyViolation property of a chatMessage can be updated with application permissions; the request also sets '${others.join(', ')}'.`);
          }
          const pv = patch.policyViolation;
          if (typeof pv !== 'object' || pv === null || Array.isArray(pv)) throw faults.badRequest("The 'policyViolation' property must be an object.");
          chats.setPolicyViolation(chat, m, pv as Record<string, unknown>);
          return { status: 200 };
        }
        if ('policyViolation' in patch) throw faults.forbidden('The policyViolation property of a chatMessage can be updated only with application permissions.');
        if (m.from.userId.toLowerCase() !== req.auth.userId?.toLowerCase()) throw faults.forbidden('Only the sender of a message can edit it.');
        notDeleted(m);
        if (patch.body === undefined && patch.attachments === undefined) return { status: 204 };
        const body = patch.body === undefined ? m.body : messageBody(patch);
        const attachments = patch.attachments === undefined ? undefined : attachmentsOf(patch.attachments, chat, body.content);
        chats.edit(chat, m, body, attachments);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: 'users/:uid/chats/:id/messages/:mid/softDelete',
      handle: (req) => deletion(req, 'chatMessage.softDelete', req.params[0] as string, req.params[1] as string, req.params[2] as string),
    },
    {
      method: 'POST',
      path: 'users/:uid/chats/:id/messages/:mid/undoSoftDelete',
      handle: (req) => deletion(req, 'chatMessage.undoSoftDelete', req.params[0] as string, req.params[1] as string, req.params[2] as string),
    },
    {
      method: 'GET',
      path: 'chats/:id/messages/:mid/hostedContents',
      handle: (req) => {
        authorize('chatMessage.hostedContents', req.auth);
        const chat = chatFor(req);
        const m = messageFor(chat, req.params[1] as string);
        const list = m.deletedMs === null ? m.hostedContents : [];
        return {
          status: 200,
          body: {
            '@odata.context': odataContext(url, `chats('${encodeURIComponent(chat.id)}')/messages('${m.id}')/hostedContents`),
            '@odata.count': list.length,
            value: list.map((h) => ({ id: h.id, contentBytes: null, contentType: null })),
          },
        };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id/messages/:mid/hostedContents/:hid',
      handle: (req) => {
        const { chat, m, h } = hosted(req);
        return {
          status: 200,
          body: { '@odata.context': odataContext(url, `chats('${encodeURIComponent(chat.id)}')/messages('${m.id}')/hostedContents/$entity`), id: h.id, contentBytes: null, contentType: null },
        };
      },
    },
    {
      method: 'GET',
      path: 'chats/:id/messages/:mid/hostedContents/:hid/$value',
      handle: (req) => {
        const { h } = hosted(req);
        return { status: 200, binary: h.bytes, headers: { 'Content-Type': h.contentType } };
      },
    },
    { method: 'POST', path: 'chats/:id/messages/:mid/setReaction', handle: (req) => reaction(req, 'chatMessage.setReaction') },
    { method: 'POST', path: 'chats/:id/messages/:mid/unsetReaction', handle: (req) => reaction(req, 'chatMessage.unsetReaction') },
  ];
}
