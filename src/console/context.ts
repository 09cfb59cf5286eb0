/**
 * What the console's routes share: the node's parts they read and change (ConsoleDeps, given by the gateway), the
 * session codec, and the per-request checks (origin, session, CSRF).
 */
import type { IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import type { LicenceState } from '../cluster/cluster-node.js';
import type { ClusterKeys } from '../cluster/redis-keys.js';
import type { RuntimeConfig } from '../config/load.js';
import type { Readiness } from '../observability/admin-server.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyService } from '../policy/policy-service.js';
import type { PairKey, Store } from '../store/store.js';
import { checkSameOrigin, cookieName, parseCookies, type OriginVerdict } from './http-security.js';
import type { Revocations, Session, SessionCodec } from './session.js';

export interface ConsoleCluster {
  readonly keys: ClusterKeys;
  licence(): LicenceState;
  /** Drains this node (its actors move to the others) or ends the drain. */
  drain(by: string): Promise<void>;
  resume(): Promise<void>;
}

/** One tenant as the console acts on it (issue 16): its store (dead letters, audit log), its whitelist, its token. */
export interface ConsoleTenant {
  readonly id: string;
  /** tenants[].admin.token: signs in to this tenant only. */
  readonly token: string | undefined;
  readonly store: Store;
  readonly policy: PolicyService;
  /** A retried outbox row's pair delivers it now (not at the next sweep). */
  readonly wakePair: (pair: PairKey) => void;
  /** A retried notification is processed now. */
  readonly inboxChanged: () => void;
}

/** What the gateway gives the console: a few wiring lines in gateway.ts. */
export interface ConsoleDeps {
  readonly config: RuntimeConfig;
  readonly nodeId: string;
  readonly version: string;
  /** The node's rows the console keeps (refusal tallies): the first tenant's store. */
  readonly store: Store;
  /** The node's tenants now (they change at run time), in configuration order (the first is the pages' default). */
  readonly tenants: () => readonly ConsoleTenant[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly readiness: () => Promise<Readiness>;
  readonly roles: () => readonly string[];
  readonly redis: Redis | undefined;
  readonly cluster: ConsoleCluster | undefined;
  /** Transitive members of an Entra group (Graph), for admin groups without a groups claim. */
  readonly groupMemberIds: (groupId: string) => Promise<string[]>;
  /** Where the compiled front end is (tests); default dist/src/console/web. */
  readonly webDir?: URL;
  readonly now?: () => number;
}

export const SESSION_COOKIE = 'xtg_console';
/** A session's refused attempts on one tenant are audited once per this period (bounds the rows a session can cost). */
const REFUSAL_AUDIT_MS = 10 * 60_000;
/** Refusals remembered at most (the oldest forgotten first). */
const REFUSAL_MEMORY = 1_000;
export const OIDC_COOKIE = 'xtg_console_oidc';

export class ConsoleContext {
  readonly now: () => number;
  private readonly refusalsAudited = new Map<string, number>();

  constructor(
    readonly deps: ConsoleDeps,
    readonly codec: SessionCodec,
    readonly revocations: Revocations,
  ) {
    this.now = deps.now ?? Date.now;
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** The console's origin as browsers see it: console.publicUrl, else what the request's Host names. */
  origin(req: IncomingMessage): string {
    const configured = this.deps.config.console.publicUrl;
    if (configured) return new URL(configured).origin;
    const proto = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
    return `${proto}://${req.headers.host ?? 'localhost'}`;
  }

  /** With console.publicUrl set, a request naming another host (DNS rebinding) is refused. */
  hostAllowed(req: IncomingMessage): boolean {
    const configured = this.deps.config.console.publicUrl;
    return !configured || req.headers.host === new URL(configured).host;
  }

  secure(req: IncomingMessage): boolean {
    return this.origin(req).startsWith('https:');
  }

  sessionCookieName(req: IncomingMessage): string {
    return cookieName(SESSION_COOKIE, this.secure(req));
  }

  sameOrigin(req: IncomingMessage): OriginVerdict {
    return checkSameOrigin(req, this.origin(req));
  }

  /** The signed-in session of the request, if any (valid signature, not expired, not signed out). */
  async session(req: IncomingMessage): Promise<Session | undefined> {
    const s = this.codec.read(parseCookies(req.headers.cookie).get(this.sessionCookieName(req)), this.now());
    if (!s || (await this.revocations.isRevoked(s))) return undefined;
    return s;
  }

  /** Writes to a tenant's audit log (default: the first tenant's, where node-wide actions go). */
  async audit(actor: string, action: string, subject: string, detail?: string, tenant?: ConsoleTenant): Promise<void> {
    await (tenant?.store ?? this.deps.store).appendAudit({ at: this.now(), actor, action, subject, detail: detail?.slice(0, 2000) });
  }

  /** The tenants a session may see: its own, or every one for the operator. */
  visibleTenants(s: Session): readonly ConsoleTenant[] {
    const all = this.deps.tenants();
    return s.tenant === undefined ? all : all.filter((t) => t.id === s.tenant);
  }

  /**
   * The tenant a request acts on: the one it names (`tenant`), else the session's own, else the first. A session
   * scoped to one tenant naming another is refused, and the attempt is written to that tenant's audit log (once per
   * session, tenant and REFUSAL_AUDIT_MS, so that a loop costs a bounded number of rows and log lines).
   */
  async tenantFor(s: Session, requested: string | undefined): Promise<ConsoleTenant> {
    const all = this.deps.tenants();
    const id = requested || s.tenant || all[0]?.id;
    const t = all.find((x) => x.id === id);
    if (!t) throw new TenantScopeError(404, `no tenant '${String(id).slice(0, 40)}' on this node`);
    if (s.tenant !== undefined && s.tenant !== t.id) {
      const key = `${s.sid}|${t.id}`;
      const last = this.refusalsAudited.get(key);
      if (last === undefined || this.now() - last >= REFUSAL_AUDIT_MS) {
        this.refusalsAudited.delete(key);
        if (this.refusalsAudited.size >= REFUSAL_MEMORY) this.refusalsAudited.delete(this.refusalsAudited.keys().next().value as string);
        this.refusalsAudited.set(key, this.now());
        this.log.warn('console request for another tenant refused', { actor: s.actor, tenant: s.tenant, asked: t.id });
        await this.audit(s.actor, 'console.refused', `tenant:${t.id}`, `a session of tenant ${s.tenant} cannot touch tenant ${t.id}`, t).catch(() => undefined);
      }
      throw new TenantScopeError(403, `this session is tenant ${s.tenant}'s: it cannot touch tenant ${t.id}`);
    }
    return t;
  }
}

/** A request outside the session's tenant (403) or naming no tenant of the node (404). */
export class TenantScopeError extends Error {
  constructor(
    readonly status: 403 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'TenantScopeError';
  }
}

/** The client address, for throttling sign-ins (the proxy's, behind one: bounded either way). */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}
