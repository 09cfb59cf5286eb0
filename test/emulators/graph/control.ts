/**
 * The emulator's own control API under /_emulator/ (JSON, no authentication: a loopback test and demo tool). It
 * lets a person or a test act as Teams users — post in a 1:1 chat, change their Teams client presence — and
 * inspect or steer the emulator (group membership, throttling, subscriptions, deliveries, lifecycle events). Not
 * part of Graph.
 *
 * Group membership: GET /_emulator/groups/{id}/members, POST /_emulator/groups/{id}/members {"member": user id or
 * UPN, or group id}, DELETE /_emulator/groups/{id}/members/{member}; each answers {"value": [direct member ids]}
 * (404 for an unknown group, 400 for an unknown member, a duplicate or a non-member).
 *
 * Sending as a Teams user: POST /_emulator/users/{user}/messages {"to", "text", "html"?, "images"?: [{"contentType",
 * "base64"}]} (images become inline images, hosted contents of the message).
 *
 * Messages of a Teams user (the message is found among the user's chats, or in the chat named by "chat" — a chat id
 * or the other member — in the body or the ?chat= query; each answers the message as EmulatedMessage):
 * PATCH /_emulator/users/{user}/messages/{id} {"text", "html"?} edits (sender only), DELETE
 * /_emulator/users/{user}/messages/{id} soft-deletes (sender only), POST /_emulator/users/{user}/messages/{id}/reactions
 * {"reactionType"} reacts, DELETE /_emulator/users/{user}/messages/{id}/reactions/{reactionType} takes it back.
 * Photos: PUT /_emulator/users/{user}/photo with the image as the body (Content-Type image/jpeg or image/png; bytes
 * that are neither answer 400), DELETE removes it.
 *
 * Tenants: every endpoint acts on the tenant named by ?tenant= (its id or one of its verified domains), by default
 * the emulator's first; GET /_emulator/tenants lists them (front.ts).
 */
import { jsonReply, type Call, type Reply } from './http.js';
import { ImageError } from './image.js';
import type { EmulatedTenant, LifecycleEvent } from './types.js';

const LIFECYCLE_EVENTS: readonly LifecycleEvent[] = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'];

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function bodyOf(call: Call): Record<string, unknown> {
  const text = call.body.toString('utf8');
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ControlError(400, 'the body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ControlError(400, 'the body must be a JSON object');
  return v as Record<string, unknown>;
}

function str(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  if (typeof v !== 'string' || v === '') throw new ControlError(400, `'${key}' (a non-empty string) is required`);
  return v;
}

/** "images": [{"contentType": "image/png", "base64": "..."}] of a message sent through the control API. */
function imagesOf(b: Record<string, unknown>): { contentType: string; bytes: Buffer }[] {
  const v = b.images;
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ControlError(400, "'images' must be an array");
  return v.map((i: unknown, n) => {
    const o = (typeof i === 'object' && i !== null ? i : {}) as Record<string, unknown>;
    if (typeof o.contentType !== 'string' || !o.contentType.startsWith('image/')) throw new ControlError(400, `images[${n}].contentType must be image/...`);
    if (typeof o.base64 !== 'string' || o.base64 === '') throw new ControlError(400, `images[${n}].base64 (the bytes) is required`);
    return { contentType: o.contentType, bytes: Buffer.from(o.base64, 'base64') };
  });
}

export async function handleControl(call: Call, t: EmulatedTenant): Promise<Reply> {
  try {
    const segs = call.url.pathname.split('/').slice(2).filter(Boolean).map((s) => decodeURIComponent(s));
    const wildcard = (i: number) =>
      ((segs[0] === 'users' || segs[0] === 'subscriptions' || segs[0] === 'groups') && i === 1) ||
      (segs[0] === 'groups' && i === 3) ||
      (segs[0] === 'users' && segs[2] === 'messages' && (i === 3 || (segs[4] === 'reactions' && i === 5)));
    const route = `${call.method} ${segs.map((s, i) => (wildcard(i) ? '*' : s)).join('/')}`;
    const [, key, , sub, , reactionType] = segs;
    /** The chat a message request names, if any: "chat" in the body, else ?chat=. */
    const chatOf = (b: Record<string, unknown>): string | undefined => (typeof b.chat === 'string' && b.chat !== '' ? b.chat : (call.url.searchParams.get('chat') ?? undefined));
    const members = () => {
      const m = t.groupMembers(key as string);
      if (!m) throw new ControlError(404, `no group '${key as string}'`);
      return m;
    };
    switch (route) {
      case 'GET users':
        return jsonReply(200, { value: t.listUsers() });
      case 'POST users/*/messages': {
        const b = bodyOf(call);
        const message = await t.sendAs(key as string, str(b, 'to'), str(b, 'text'), { html: b.html === true, images: imagesOf(b) });
        return jsonReply(201, message);
      }
      case 'PATCH users/*/messages/*': {
        const b = bodyOf(call);
        return jsonReply(200, await t.editAs(key as string, chatOf(b), sub as string, str(b, 'text'), { html: b.html === true }));
      }
      case 'DELETE users/*/messages/*':
        return jsonReply(200, await t.deleteAs(key as string, chatOf({}), sub as string));
      case 'POST users/*/messages/*/reactions': {
        const b = bodyOf(call);
        return jsonReply(200, await t.reactAs(key as string, chatOf(b), sub as string, str(b, 'reactionType')));
      }
      case 'DELETE users/*/messages/*/reactions/*':
        return jsonReply(200, await t.unreactAs(key as string, chatOf({}), sub as string, reactionType as string));
      case 'PUT users/*/photo': {
        const type = (call.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        if (!type.startsWith('image/')) throw new ControlError(400, 'send the photo as the body with Content-Type image/jpeg');
        if (call.body.length === 0) throw new ControlError(400, 'the body is empty');
        try {
          t.setPhoto(key as string, call.body);
        } catch (err) {
          if (err instanceof ImageError) throw new ControlError(400, err.message);
          throw err;
        }
        return { status: 204, headers: {}, body: '' };
      }
      case 'DELETE users/*/photo':
        t.setPhoto(key as string, undefined);
        return { status: 204, headers: {}, body: '' };
      case 'GET users/*/chats':
        return jsonReply(200, { value: t.chatsOf(key as string) });
      case 'GET users/*/presence':
        return jsonReply(200, t.presenceOf(key as string));
      case 'PUT users/*/presence': {
        const b = bodyOf(call);
        t.setPresence(key as string, str(b, 'availability'), str(b, 'activity'));
        return jsonReply(200, t.presenceOf(key as string));
      }
      case 'POST throttle': {
        const b = bodyOf(call);
        const pathRegex = typeof b.pathRegex === 'string' ? new RegExp(b.pathRegex, 'u') : undefined;
        const status = b.status === 503 ? 503 : b.status === undefined || b.status === 429 ? 429 : undefined;
        if (status === undefined) throw new ControlError(400, "'status' must be 429 or 503");
        t.throttle({
          ...(typeof b.method === 'string' ? { method: b.method } : {}),
          path: pathRegex ?? str(b, 'path'),
          count: typeof b.count === 'number' ? b.count : 1,
          retryAfterSeconds: typeof b.retryAfterSeconds === 'number' ? b.retryAfterSeconds : 1,
          status,
        });
        return { status: 204, headers: {}, body: '' };
      }
      case 'GET groups/*/members':
        return jsonReply(200, { value: members() });
      case 'POST groups/*/members': {
        members();
        t.addGroupMember(key as string, str(bodyOf(call), 'member'));
        return jsonReply(200, { value: members() });
      }
      case 'DELETE groups/*/members/*':
        members();
        t.removeGroupMember(key as string, sub as string);
        return jsonReply(200, { value: members() });
      case 'GET subscriptions':
        return jsonReply(200, { value: t.subscriptions() });
      case 'GET deliveries':
        return jsonReply(200, { value: t.deliveries() });
      case 'GET requests':
        return jsonReply(200, { value: t.requests() });
      case 'POST subscriptions/*/lifecycle': {
        const event = str(bodyOf(call), 'event');
        if (!LIFECYCLE_EVENTS.includes(event as LifecycleEvent)) throw new ControlError(400, `'event' must be one of ${LIFECYCLE_EVENTS.join(', ')}`);
        await t.fireLifecycle(key as string, event as LifecycleEvent);
        return jsonReply(202, {});
      }
      default:
        return jsonReply(404, { error: { code: 'NotFound', message: `no control endpoint ${call.method} ${call.url.pathname}` } });
    }
  } catch (err) {
    const status = err instanceof ControlError ? err.status : 400;
    return jsonReply(status, { error: { code: status === 404 ? 'NotFound' : 'BadRequest', message: err instanceof Error ? err.message : String(err) } });
  }
}
