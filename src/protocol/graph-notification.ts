/**
 * Microsoft Graph change notifications, parsed into what the gateway acts on. Pure functions.
 * Shapes: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks (notification
 * collection), https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events (lifecycle) and
 * https://learn.microsoft.com/en-us/graph/change-notifications-with-resource-data (encryptedContent and the
 * collection's validationTokens).
 */

export type NotificationTarget =
  | { readonly kind: 'chatMessage'; readonly chatId: string; readonly messageId: string }
  | { readonly kind: 'presence'; readonly userId: string }
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'unknown'; readonly resource: string };

/** A rich notification's resource data, still encrypted to the gateway's certificate. */
export interface EncryptedContent {
  readonly data: string;
  readonly dataKey: string;
  readonly dataSignature: string;
  readonly encryptionCertificateId: string;
  readonly encryptionCertificateThumbprint: string | undefined;
}

export interface ParsedNotification {
  readonly subscriptionId: string;
  readonly clientState: string | undefined;
  readonly changeType: string;
  readonly resource: string;
  readonly lifecycleEvent: string | undefined;
  readonly target: NotificationTarget;
  /** The tenant the change happened in (always sent by Graph). */
  readonly tenantId: string | undefined;
  readonly subscriptionExpirationDateTime: string | undefined;
  readonly encryptedContent: EncryptedContent | undefined;
}

/** A POSTed changeNotificationCollection. */
export interface ParsedCollection {
  readonly items: ParsedNotification[];
  /** JWTs Graph adds when an item carries resource data: one per app and tenant with items in the collection. */
  readonly validationTokens: string[];
}

export class NotificationFormatError extends Error {
  constructor(reason: string) {
    super(`malformed change notification: ${reason}`);
    this.name = 'NotificationFormatError';
  }
}

/** A key segment's name, as in chats('id'): letters and dots. */
const KEY_NAME = /^[A-Za-z.]+$/u;

/**
 * Key segments appear as chats('id') or chats/id; ids may be quoted and URL-encoded. Written without a regular
 * expression per segment: every Teams message's resource is parsed several times on its way (webhook, inbox, pair).
 */
function segmentsOf(resource: string): string[] {
  let from = 0;
  while (resource.charCodeAt(from) === 0x2f) from++; // leading '/'
  const out: string[] = [];
  for (const raw of (from === 0 ? resource : resource.slice(from)).split('/')) {
    const open = raw.indexOf("('");
    if (open > 0 && raw.endsWith("')") && raw.length >= open + 4 && KEY_NAME.test(raw.slice(0, open))) {
      // A quote inside an OData string literal is written twice (OData ABNF: SQUOTE-in-string = SQUOTE SQUOTE).
      const id = decoded(raw.slice(open + 2, -2));
      out.push(raw.slice(0, open), id.includes("''") ? id.replaceAll("''", "'") : id);
    } else {
      out.push(decoded(raw));
    }
  }
  return out;
}

function decoded(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Whether segment i is `name`, case-insensitively (Graph writes Users/{id} and users/{id}). */
function named(s: readonly string[], i: number, name: string): boolean {
  const x = s[i];
  return x !== undefined && x.length === name.length && x.toLowerCase() === name;
}

function lastNamed(s: readonly string[], name: string): number {
  for (let i = s.length - 1; i >= 0; i--) if (named(s, i, name)) return i;
  return -1;
}

function firstNamed(s: readonly string[], name: string): number {
  for (let i = 0; i < s.length; i++) if (named(s, i, name)) return i;
  return -1;
}

export function parseResource(resource: string): NotificationTarget {
  const s = segmentsOf(resource);
  // chats/{chatId}/messages/{messageId}, also under users/{id}/chats/...
  const chatIdx = lastNamed(s, 'chats');
  if (chatIdx !== -1 && named(s, chatIdx + 2, 'messages') && s[chatIdx + 1] && s[chatIdx + 3]) {
    return { kind: 'chatMessage', chatId: s[chatIdx + 1] as string, messageId: s[chatIdx + 3] as string };
  }
  const presIdx = firstNamed(s, 'presences');
  if (presIdx !== -1 && s[presIdx + 1]) return { kind: 'presence', userId: s[presIdx + 1] as string };
  const userIdx = firstNamed(s, 'users');
  if (userIdx !== -1 && named(s, userIdx + 2, 'presence') && s[userIdx + 1]) return { kind: 'presence', userId: s[userIdx + 1] as string };
  // A directory change: Users/{id} (https://learn.microsoft.com/en-us/graph/change-notifications-overview).
  if (userIdx === 0 && s.length === 2 && s[1]) return { kind: 'user', userId: s[1] };
  return { kind: 'unknown', resource };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** The number of items a collection body holds, checked before any item is looked at. */
export function notificationCount(body: unknown): number {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { value?: unknown }).value)) {
    throw new NotificationFormatError("expected an object with a 'value' array");
  }
  return (body as { value: unknown[] }).value.length;
}

function encryptedContentOf(v: unknown, i: number): EncryptedContent | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') throw new NotificationFormatError(`value[${i}].encryptedContent is not an object`);
  const o = v as Record<string, unknown>;
  const data = str(o.data);
  const dataKey = str(o.dataKey);
  const dataSignature = str(o.dataSignature);
  const encryptionCertificateId = str(o.encryptionCertificateId);
  if (!data || !dataKey || !dataSignature || !encryptionCertificateId) {
    throw new NotificationFormatError(`value[${i}].encryptedContent needs data, dataKey, dataSignature and encryptionCertificateId`);
  }
  return { data, dataKey, dataSignature, encryptionCertificateId, encryptionCertificateThumbprint: str(o.encryptionCertificateThumbprint) };
}

/** Parses a notification collection body ({"value": [...], "validationTokens"?: [...]}). */
export function parseNotificationBody(body: unknown): ParsedCollection {
  const items = parseNotificationCollection(body);
  const raw = (body as { validationTokens?: unknown }).validationTokens;
  if (raw !== undefined && (!Array.isArray(raw) || raw.some((t) => typeof t !== 'string'))) {
    throw new NotificationFormatError('validationTokens must be an array of strings');
  }
  return { items, validationTokens: (raw as string[] | undefined) ?? [] };
}

/** Parses a notification collection body ({"value": [...]}); items that are not objects are errors. */
export function parseNotificationCollection(body: unknown): ParsedNotification[] {
  notificationCount(body);
  return ((body as { value: unknown[] }).value).map((item, i) => {
    if (typeof item !== 'object' || item === null) throw new NotificationFormatError(`value[${i}] is not an object`);
    const o = item as Record<string, unknown>;
    const subscriptionId = str(o.subscriptionId);
    if (!subscriptionId) throw new NotificationFormatError(`value[${i}].subscriptionId is missing`);
    const lifecycleEvent = str(o.lifecycleEvent);
    const resource = str(o.resource) ?? '';
    if (!lifecycleEvent && !resource) throw new NotificationFormatError(`value[${i}].resource is missing`);
    return {
      subscriptionId,
      clientState: str(o.clientState),
      // Teams examples spell it "Created" as well as "created".
      changeType: (str(o.changeType) ?? '').toLowerCase(),
      resource,
      lifecycleEvent,
      target: lifecycleEvent ? { kind: 'unknown', resource } : parseResource(resource),
      tenantId: str(o.tenantId),
      subscriptionExpirationDateTime: str(o.subscriptionExpirationDateTime),
      encryptedContent: encryptedContentOf(o.encryptedContent, i),
    };
  });
}
