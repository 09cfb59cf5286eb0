/**
 * Presence endpoints:
 * - GET /users/{id}/presence, GET /communications/presences/{id}, GET /me/presence
 *   (https://learn.microsoft.com/en-us/graph/api/presence-get; {id} is the user's object id; /me needs a delegated token)
 * - POST /communications/getPresencesByUserId (at most 650 ids;
 *   https://learn.microsoft.com/en-us/graph/api/cloudcommunications-getpresencesbyuserid)
 * - POST /users/{id}/presence/setPresence | clearPresence | setUserPreferredPresence | clearUserPreferredPresence |
 *   setStatusMessage (https://learn.microsoft.com/en-us/graph/api/presence-setpresence and siblings): 200 with no
 *   body. A delegated token (Presence.ReadWrite) may only change the signed-in user's own presence; setPresence and
 *   clearPresence take the calling application's id as sessionId.
 * - clearPresence without a session of the app for the user: "If the presence session doesn't exist, this method
 *   returns a 404 NotFound response code" (https://learn.microsoft.com/en-us/graph/api/presence-clearpresence).
 */
import type { Directory, DirectoryUser } from './directory.js';
import { faults, GraphFault } from './errors.js';
import { odataContext, type GraphRequest, type Route } from './graph-router.js';
import { isGuid } from './ids.js';
import { authorize, type Operation } from './permissions.js';
import { requireTeamsLicence } from './teams-licence.js';
import { findCombination, parseIsoDuration, PREFERRED_COMBINATIONS, SESSION_COMBINATIONS, type PresenceService } from './presence.js';

const MINUTE = 60_000;

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw faults.malformedJson();
  return body as Record<string, unknown>;
}

function duration(value: unknown, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  const ms = typeof value === 'string' ? parseIsoDuration(value) : undefined;
  if (ms === undefined || ms <= 0) throw faults.badRequest(`Invalid expirationDuration '${String(value)}': expected an ISO 8601 duration such as PT1H.`);
  return ms;
}

export function presenceRoutes(directory: Directory, presence: PresenceService, url: string): Route[] {
  const target = (id: string): DirectoryUser => {
    if (!isGuid(id)) throw faults.badRequest(`Invalid user id '${id}': presence APIs take the user's object id (a GUID).`);
    const user = directory.byId(id);
    if (!user || !directory.isVisible(user)) throw faults.notFound(`The user '${id}' was not found.`);
    return user;
  };

  const isSelf = (req: GraphRequest, id: string) => req.auth.kind === 'delegated' && req.auth.userId?.toLowerCase() === id.toLowerCase();

  const read = (req: GraphRequest, id: string, context: string) => {
    authorize(isSelf(req, id) ? 'presence.readSelf' : 'presence.read', req.auth);
    const user = target(id);
    return { status: 200, body: { '@odata.context': odataContext(url, context), ...presence.json(user.id, isSelf(req, user.id)) } };
  };

  /** A write on /users/{id}/presence/...: permission, then "own presence only" for delegated tokens. */
  const writeTarget = (req: GraphRequest, op: Operation): DirectoryUser => {
    authorize(op, req.auth);
    const id = req.params[0] as string;
    if (req.auth.kind === 'delegated' && !isSelf(req, id)) throw faults.forbidden("A delegated token can change only the signed-in user's own presence.");
    const user = target(id);
    requireTeamsLicence(directory, user.id);
    return user;
  };

  const sessionOf = (req: GraphRequest, body: Record<string, unknown>): void => {
    const s = body.sessionId;
    if (typeof s !== 'string' || s === '') throw faults.badRequest("The 'sessionId' parameter is required.");
    if (s.toLowerCase() !== req.auth.appId.toLowerCase()) throw faults.badRequest("The 'sessionId' must be the calling application's id (client id).");
  };

  const ok = { status: 200 } as const;

  return [
    { method: 'GET', path: 'users/:id/presence', handle: (req) => read(req, req.params[0] as string, `users('${req.params[0] as string}')/presence/$entity`) },
    { method: 'GET', path: 'communications/presences/:id', handle: (req) => read(req, req.params[0] as string, 'communications/presences/$entity') },
    {
      method: 'GET',
      path: 'me/presence',
      handle: (req) => {
        if (req.auth.kind !== 'delegated' || !req.auth.userId) throw faults.badRequest('/me request is only valid with delegated authentication flow.');
        return read(req, req.auth.userId, 'users/presence/$entity');
      },
    },
    {
      method: 'POST',
      path: 'communications/getPresencesByUserId',
      handle: (req) => {
        authorize('presence.readMany', req.auth);
        const ids = object(req.json()).ids;
        if (!Array.isArray(ids) || ids.length === 0 || !ids.every((x): x is string => typeof x === 'string')) {
          throw faults.badRequest("The 'ids' parameter must be a non-empty array of user ids.");
        }
        if (ids.length > 650) throw faults.badRequest('At most 650 user ids are supported per request.');
        const value = ids.map((id) => {
          const user = isGuid(id) ? directory.byId(id) : undefined;
          return user ? presence.json(user.id, isSelf(req, user.id)) : { id, availability: 'PresenceUnknown', activity: 'PresenceUnknown', statusMessage: null };
        });
        return { status: 200, body: { '@odata.context': odataContext(url, 'Collection(microsoft.graph.presence)'), value } };
      },
    },
    {
      method: 'POST',
      path: 'users/:id/presence/setPresence',
      handle: (req) => {
        const user = writeTarget(req, 'presence.setPresence');
        const b = object(req.json());
        sessionOf(req, b);
        const combo = findCombination(SESSION_COMBINATIONS, b.availability, b.activity);
        if (!combo) {
          throw faults.badRequest(
            `Unsupported availability/activity combination '${String(b.availability)}/${String(b.activity)}'; supported: ${SESSION_COMBINATIONS.map((c) => c.join('/')).join(', ')}.`,
          );
        }
        // "The valid duration range is 5-240 minutes (PT5M to PT4H)"; default 5 minutes.
        const ms = duration(b.expirationDuration, 5 * MINUTE);
        if (ms < 5 * MINUTE || ms > 240 * MINUTE) throw faults.badRequest('The expirationDuration must be between PT5M and PT4H.');
        presence.setAppSession(user.id, req.auth.appId, combo[0], combo[1], ms);
        return ok;
      },
    },
    {
      method: 'POST',
      path: 'users/:id/presence/clearPresence',
      handle: (req) => {
        const user = writeTarget(req, 'presence.clearPresence');
        sessionOf(req, object(req.json()));
        if (!presence.clearAppSession(user.id, req.auth.appId)) throw faults.notFound(`The presence session '${req.auth.appId}' was not found for user '${user.id}'.`);
        return ok;
      },
    },
    {
      method: 'POST',
      path: 'users/:id/presence/setUserPreferredPresence',
      handle: (req) => {
        const user = writeTarget(req, 'presence.setUserPreferredPresence');
        const b = object(req.json());
        const combo = findCombination(PREFERRED_COMBINATIONS, b.availability, b.activity);
        if (!combo) {
          throw faults.badRequest(
            `Unsupported availability/activity combination '${String(b.availability)}/${String(b.activity)}'; supported: ${PREFERRED_COMBINATIONS.map((c) => c.join('/')).join(', ')}.`,
          );
        }
        // Default expiration: DoNotDisturb or Busy 1 day, all others 7 days.
        const fallback = combo[0] === 'DoNotDisturb' || combo[0] === 'Busy' ? 24 * 60 * MINUTE : 7 * 24 * 60 * MINUTE;
        presence.setPreferred(user.id, combo[0], combo[1], duration(b.expirationDuration, fallback));
        return ok;
      },
    },
    {
      method: 'POST',
      path: 'users/:id/presence/clearUserPreferredPresence',
      handle: (req) => {
        const user = writeTarget(req, 'presence.clearUserPreferredPresence');
        presence.clearPreferred(user.id);
        return ok;
      },
    },
    {
      method: 'POST',
      path: 'users/:id/presence/setStatusMessage',
      handle: (req) => {
        const user = writeTarget(req, 'presence.setStatusMessage');
        const sm = object(req.json()).statusMessage;
        if (typeof sm !== 'object' || sm === null) throw faults.badRequest("The 'statusMessage' parameter is required.");
        const s = sm as Record<string, unknown>;
        const message = s.message as Record<string, unknown> | null | undefined;
        const content = message?.content;
        const contentType = message?.contentType ?? 'text';
        if (typeof content !== 'string') throw faults.badRequest("The 'statusMessage.message.content' property is required.");
        // "The only supported format currently is message.contentType = 'text'."
        if (typeof contentType !== 'string' || contentType.toLowerCase() !== 'text') throw faults.badRequest("Only message.contentType 'text' is supported.");
        let expiry: { dateTime: string; timeZone: string } | undefined;
        let expiresAt: number | undefined;
        if (s.expiryDateTime !== undefined && s.expiryDateTime !== null) {
          const e = s.expiryDateTime as Record<string, unknown>;
          if (typeof e.dateTime !== 'string') throw faults.badRequest("Invalid 'statusMessage.expiryDateTime'.");
          const timeZone = typeof e.timeZone === 'string' ? e.timeZone : 'UTC';
          // dateTime carries no offset; the emulator reads it as UTC whatever timeZone names.
          expiresAt = Date.parse(/[zZ]|[+-]\d\d:\d\d$/u.test(e.dateTime) ? e.dateTime : `${e.dateTime}Z`);
          if (Number.isNaN(expiresAt)) throw new GraphFault(400, 'BadRequest', `Invalid expiryDateTime.dateTime '${e.dateTime}'.`);
          expiry = { dateTime: e.dateTime, timeZone };
        }
        presence.setStatusMessage(user.id, { content, contentType: 'text', publishedDateTime: new Date().toISOString(), expiryDateTime: expiry, expiresAt });
        return ok;
      },
    },
  ];
}
