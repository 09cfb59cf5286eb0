/**
 * The SfB emulator: a Front End pool on loopback (SIP over mutual TLS, the test CA) with its users' devices, and a
 * control API over HTTP on loopback (/_emulator/...) to act as those users (the sfb-cli does the same from a shell).
 * See docs/sfb-conformance.md for what it reproduces and the test of each behaviour.
 */
import { createServer, type Server } from 'node:http';
import { FrontEnd, type StaticRoute } from './front-end.js';
import { DEMO_SFB_USERS, makeUser, newDevice, type AnswerPolicy, type SfbUser, type UserSpec } from './model.js';
import type { TlsIdentity } from '../../../src/sfb/sip/transport.js';

export interface SfbEmulatorOptions {
  /** The Front End's FQDN (its certificate must name it), e.g. fe01.contoso.example. */
  readonly fqdn: string;
  readonly identity: TlsIdentity;
  readonly trustedApplications: readonly string[];
  readonly routes: readonly StaticRoute[];
  /** Name -> address for hosts DNS does not know (the trusted application on loopback). */
  readonly hosts: ReadonlyMap<string, string>;
  readonly users?: readonly UserSpec[];
  /** Hybrid: SIP addresses ("sip:alice@contoso.example") of the pool's domains homed online (moved to Teams). */
  readonly homedOnline?: readonly string[];
  readonly idleByeMs?: number;
  readonly maxSubscriptionSeconds?: number;
  readonly sipPort?: number;
  readonly controlPort?: number;
}

export interface SfbEmulator {
  readonly frontEnd: FrontEnd;
  readonly users: Map<string, SfbUser>;
  readonly sipPort: number;
  /** http://127.0.0.1:<port> of the control API. */
  readonly controlUrl: string;
  user(name: string): SfbUser;
  close(): Promise<void>;
}

/** 'carol', 'carol@contoso.example' or 'sip:carol@contoso.example'. */
function findUser(users: Map<string, SfbUser>, name: string): SfbUser | undefined {
  const n = name.toLowerCase();
  if (users.has(n)) return users.get(n);
  if (users.has(`sip:${n}`)) return users.get(`sip:${n}`);
  return [...users.values()].find((u) => u.uri.slice(4).split('@')[0] === n);
}

export async function startSfbEmulator(o: SfbEmulatorOptions): Promise<SfbEmulator> {
  const users = new Map<string, SfbUser>((o.users ?? DEMO_SFB_USERS).map((spec) => [spec.uri, makeUser(spec)]));
  const fe = new FrontEnd({
    fqdn: o.fqdn,
    identity: o.identity,
    trustedApplications: o.trustedApplications,
    routes: o.routes,
    hosts: o.hosts,
    users,
    idleByeMs: o.idleByeMs ?? 600_000,
    maxSubscriptionSeconds: o.maxSubscriptionSeconds ?? 3600,
    homedOnline: new Set((o.homedOnline ?? []).map((u) => u.toLowerCase())),
    hostingProvider: 'sipfed.online.lync.com',
    ...(o.sipPort ? { port: o.sipPort } : {}),
  });
  await fe.start();
  const scripts = new Set<NodeJS.Timeout>();
  const user = (name: string) => {
    const u = findUser(users, name);
    if (!u) throw new HttpError(404, `no SfB user ${name}`);
    return u;
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1_000_000) chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
        if (parts[0] === 'photos' && parts[1]) {
          // The web server of users' pictures "from a web address" (what their contactCard photo uri names).
          const owner = users.get(parts[1]);
          if (!owner?.photo) throw new HttpError(404, 'no such picture');
          return new RawBody(owner.photo.type, owner.photo.bytes);
        }
        const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
        if (parts[0] !== '_emulator') throw new HttpError(404, 'not found');
        const [, what, name, action] = parts;
        const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
        const need = (k: string) => str(k) ?? thrower(`${k} is required`);
        if (what === 'trace') return fe.trace;
        if (what === 'violations') return fe.violations;
        if (what === 'subscriptions') return fe.presence.activeSubscriptions();
        if (what === 'faults' && req.method === 'POST') {
          // The next `count` out-of-dialog SUBSCRIBEs get no answer ("silent") or 503: a pool in trouble.
          const mode = body.subscribe === 'silent' ? 'silent' : body.subscribe === 503 ? 503 : thrower('subscribe: "silent" or 503');
          fe.presence.fault = { mode, left: typeof body.count === 'number' ? body.count : 1 };
          return { armed: fe.presence.fault };
        }
        if (what !== 'users') throw new HttpError(404, 'not found');
        if (!name) return [...users.values()].map((u) => ({ uri: u.uri, displayName: u.card.displayName, devices: u.devices.length, presence: u.presence, sessions: fe.openSessions(u) }));
        const u = user(name);
        const m = req.method ?? 'GET';
        switch (`${m} ${action ?? ''}`) {
          case 'GET inbox':
            return u.inbox;
          case 'GET watching':
            return Object.fromEntries(u.watching);
          case 'GET sessions':
            return fe.openSessions(u);
          case 'POST messages':
            return { status: await fe.clients.sendIm(u, toUri(need('to')), need('text'), (str('form') as 'plain' | 'html' | 'multipart' | undefined) ?? 'plain') };
          case 'POST typing':
            return { status: await fe.clients.typing(u, toUri(need('to')), str('state') === 'idle' ? 'idle' : 'composing') };
          case 'POST bye':
            return { status: await fe.clients.bye({ user: u, remote: toUri(need('to')) }) };
          case 'POST conference':
            return { status: await fe.clients.conference(u, toUri(need('to'))) };
          case 'POST watch':
            return { status: await fe.clients.watch(u, toUri(need('to')), typeof body.expires === 'number' ? body.expires : 3600) };
          case 'POST unwatch':
            return { status: await fe.clients.unwatch(u, toUri(need('to'))) };
          case 'POST drop-sessions':
            return { dropped: fe.dropSessions(u) };
          case 'POST fail-over':
            return { invalidated: fe.invalidateRoutes(u) };
          case 'POST refresh':
            return { statuses: await fe.clients.refreshWatches(u) };
          case 'PUT photo': {
            // The user picks a picture from a web address ({type, base64}), or none ({}); watchers are told.
            const b64 = str('base64');
            u.photo = b64 ? { type: str('type') ?? 'image/png', bytes: Buffer.from(b64, 'base64') } : undefined;
            await fe.presence.presenceChanged(u);
            return { photo: u.photo !== undefined };
          }
          case 'GET contact-photo':
            // Her client shows a watched contact's photo: it fetches the address in the contact's contactCard.
            return fe.clients.contactPhoto(u, toUri(url.searchParams.get('contact') ?? thrower('contact is required')));
          case 'POST presence': {
            const apply = async (p: Record<string, unknown>) => {
              if (typeof p.availability === 'number') u.presence.availability = p.availability;
              if ('activity' in p) u.presence.activity = typeof p.activity === 'string' ? p.activity : undefined;
              if ('note' in p) u.presence.note = typeof p.note === 'string' ? p.note : undefined;
              if (Array.isArray(p.noteContainers)) u.presence.noteContainers = p.noteContainers.filter((x): x is number => typeof x === 'number');
              await fe.presence.presenceChanged(u);
            };
            // Scripted changes: each step after its delay (what a day of presence changes looks like, compressed).
            if (Array.isArray(body.script)) {
              for (const step of body.script as Record<string, unknown>[]) {
                const t = setTimeout(() => {
                  scripts.delete(t);
                  void apply(step);
                }, typeof step.afterMs === 'number' ? step.afterMs : 0);
                scripts.add(t);
              }
              return { scheduled: (body.script as unknown[]).length };
            }
            await apply(body);
            return u.presence;
          }
          case 'PATCH devices': {
            if (typeof body.count === 'number') {
              while (u.devices.length < body.count) u.devices.push(newDevice(u.uri));
              u.devices.length = body.count;
              if (body.count === 0) u.presence.availability = 18500;
            }
            const index = typeof body.index === 'number' ? body.index : undefined;
            for (const [i, d] of u.devices.entries()) {
              if (index !== undefined && i !== index) continue;
              if (typeof body.answer === 'string') d.answer = body.answer as AnswerPolicy;
              if (typeof body.answerDelayMs === 'number') d.answerDelayMs = body.answerDelayMs;
              if (body.typingForm === 'info' || body.typingForm === 'iscomposing') d.typingForm = body.typingForm;
            }
            return u.devices;
          }
          default:
            throw new HttpError(404, `no ${m} ${action ?? ''} on a user`);
        }
      })().then(
        (result) => {
          if (result instanceof RawBody) {
            res.writeHead(200, { 'Content-Type': result.type, 'Content-Length': result.bytes.length });
            res.end(result.bytes);
            return;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(result ?? null));
        },
        (err: unknown) => {
          const status = err instanceof HttpError ? err.status : 500;
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: (err as Error).message }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(o.controlPort ?? 0, '127.0.0.1', resolve));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  fe.photoBaseUrl = `http://127.0.0.1:${port}`;
  return {
    frontEnd: fe,
    users,
    sipPort: fe.port,
    controlUrl: `http://127.0.0.1:${port}`,
    user: (name) => {
      const u = findUser(users, name);
      if (!u) throw new Error(`no SfB user ${name}`);
      return u;
    },
    close: async () => {
      for (const t of scripts) clearTimeout(t);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await fe.stop();
    },
  };
}

/** A non-JSON answer of the control server (a picture). */
class RawBody {
  constructor(
    readonly type: string,
    readonly bytes: Buffer,
  ) {}
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function thrower(message: string): never {
  throw new HttpError(400, message);
}

/** An XMPP user as SfB addresses it: sip:juliet@xmpp.example. */
function toUri(to: string): string {
  return to.startsWith('sip:') ? to : `sip:${to}`;
}
