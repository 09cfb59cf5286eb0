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
 * With a delegated token, reading a chat or posting in it requires the signed-in user to be a member.
 */
import type { ChatStore, StoredChat } from './chats.js';
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { odataContext, type GraphRequest, type Route } from './graph-router.js';
import { nextLink, parseTop, skipOf } from './odata.js';
import { authorize } from './permissions.js';
import type { EmulatedMessage } from './types.js';

/** About 28 KB per post (Teams limits); measured on the body content. */
export const MAX_MESSAGE_BYTES = 28 * 1024;

export function chatRoutes(directory: Directory, chats: ChatStore, url: string): Route[] {
  const chatFor = (req: GraphRequest): StoredChat => {
    const id = req.params[0] as string;
    const chat = chats.get(id);
    if (!chat) throw faults.notFound(`Chat '${id}' was not found.`);
    if (req.auth.kind === 'delegated' && !chats.isMember(chat, req.auth.userId ?? '')) throw faults.forbidden('The signed-in user is not a member of this chat.');
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
    // Any host: https://graph.microsoft.com/v1.0/users('{id}') as Learn writes it, or the emulator's own URL.
    const m2 = typeof bind === 'string' ? /\/users(?:\('([^']+)'\)|\/([^/?'()]+))\/?$/u.exec(bind) : null;
    if (!m2) throw faults.badRequest(`members[${i}] must carry user@odata.bind "https://graph.microsoft.com/v1.0/users('{id}')".`);
    const key = decodeURIComponent((m2[1] ?? m2[2]) as string);
    const user = directory.find(key);
    if (!user) throw faults.notFound(`The user '${key}' in members[${i}] was not found.`);
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
        const sender = directory.byId(req.auth.userId ?? '');
        if (!sender) throw faults.forbidden('The signed-in user does not exist.');
        const m = chats.addMessage(chat, sender, messageBody(req.json()));
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
        const mid = req.params[1] as string;
        const m = chat.messages.find((x) => x.id === mid);
        if (!m) throw faults.notFound(`Message '${mid}' was not found in chat '${chat.id}'.`);
        return { status: 200, body: { '@odata.context': odataContext(url, `chats('${chat.id}')/messages/$entity`), ...chats.messageJson(m) } };
      },
    },
  ];
}
