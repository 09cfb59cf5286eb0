/**
 * The Skype for Business side of a gateway node (issue 17; DESIGN.md "src/sfb"): the trusted application (SIP
 * over mutual TLS), the directory that tells which internal users are homed on SfB, the supervisor of SfB pair
 * actors and the stanza handler the StanzaRouter calls for SfB users. The gateway composes it with a few marked
 * lines; the cluster router delivers to its actors like to any other kind.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Envelope } from '../actors/actor.js';
import type { SfbPairMessage, SfbPairReply } from '../actors/sfb-pair/messages.js';
import { SfbPairActor, type SfbPairSettings } from '../actors/sfb-pair/sfb-pair-actor.js';
import { outboxUserId, parseSfbPairKey, sfbPairKey } from '../actors/sfb-pair/state.js';
import type { RuntimeConfig, TenantConfig } from '../config/load.js';
import { errorMessage, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Admission, AdmissionResult, Direction } from '../policy/throttle.js';
import type { SfbPairKey, Store } from '../store/store.js';
import { tenantActorKey } from '../actors/actor-keys.js';
import type { ActorContext } from '../actors/actor.js';
import type { XmppPort } from '../xmpp/component-link.js';
import { SfbDirectory } from './sfb-directory.js';
import { PhotoServer } from './photos/photo-server.js';
import { SfbPhotos, vcardRequest } from './photos/sfb-photos.js';
import { SfbStanzaHandler } from './stanza-handler.js';
import { SfbTrustedApp, splitListen } from './trusted-app.js';
import { NS } from '../protocol/namespaces.js';
import type { WireAnswer } from './wire.js';
import { HomingLookups } from './homing-lookups.js';
import { homingOf } from './protocol/homing.js';
import { header } from './sip/message.js';
import type { LookupBudget } from '../teams/directory.js';

export type SfbConfig = NonNullable<TenantConfig['sfb']>;

export interface SfbSideOptions {
  /** The tenant whose SfB deployment this is (its actor keys carry it). */
  readonly tenant: string;
  readonly config: SfbConfig;
  readonly componentDomain: string;
  readonly store: Store;
  readonly xmpp: XmppPort;
  readonly policy: {
    verdict(user: { id: string; upn: string }, remoteDomain: string): { readonly allowed: true } | { readonly allowed: false; readonly reason: string };
  };
  readonly throttle: { admit(direction: Direction, a: Admission, mode: 'refuse' | 'queue', maxWaitMs?: number): Promise<AdmissionResult> };
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly actors: RuntimeConfig['actors'];
  readonly throttleConfig: TenantConfig['throttle'];
  readonly outbox: { readonly maxAttempts: number; readonly backoffInitialMs: number; readonly backoffMaxMs: number };
  readonly version: string;
  /** The tenant's directory lookup budget (policy/lookup-budget.ts): homing lookups are paid from it. */
  readonly lookups?: LookupBudget | undefined;
}

/** Delivers a message to an SfB pair actor wherever it lives (the cluster router, or the local supervisor). */
export type SfbRoute = (key: string, message: SfbPairMessage, envelope: Envelope) => Promise<SfbPairReply>;

export class SfbSide {
  readonly directory: SfbDirectory;
  readonly app: SfbTrustedApp;
  readonly stanzas: SfbStanzaHandler;
  readonly photos: SfbPhotos;
  /** Serves XMPP users' photos to SfB clients (sfb.photos.listen), when configured. */
  readonly photoServer: PhotoServer | undefined;
  private route: SfbRoute | undefined;

  constructor(private readonly o: SfbSideOptions) {
    const c = o.config;
    const log = o.log.child({ side: 'sfb' });
    const homing = c.lookup.domains.length > 0 ? this.homingLookups(log) : undefined;
    this.directory = new SfbDirectory(
      { domains: c.domains, users: c.users, lookupDomains: c.lookup.domains, defaultDomain: c.defaultDomain ?? c.domains[0] ?? c.lookup.domains[0] ?? (c.users[0] ?? '').split('@')[1] ?? '', componentDomain: o.componentDomain },
      homing,
    );
    const identity = { cert: readFileSync(c.tls.certFile, 'utf8'), key: readFileSync(c.tls.keyFile, 'utf8'), ca: readFileSync(c.tls.caFile, 'utf8') };
    this.photos = new SfbPhotos({
      maxBytes: c.photos.maxBytes,
      fetchTimeoutMs: c.photos.fetchTimeoutSeconds * 1000,
      cacheBytes: c.photos.cacheBytes,
      ca: identity.ca,
      publicUrl: () => this.photoBaseUrl(),
      readVcard: async (jid) => (await o.xmpp.request(vcardRequest(o.componentDomain, jid), 5_000)).getChild('vCard', NS.vcardTemp),
      log,
    });
    const [photoHost, photoPort] = c.photos.listen ? splitListen(c.photos.listen) : [undefined, 0];
    this.photoServer = photoHost !== undefined ? new PhotoServer({ host: photoHost, port: photoPort, cert: identity.cert, key: identity.key, photos: this.photos, log }) : undefined;
    this.app = new SfbTrustedApp({
      config: c,
      identity,
      directory: this.directory,
      allowed: (aor, domain) => this.verdict(aor, domain).allowed,
      deliver: async (key, request, correlationId) => {
        const reply = await this.tell(key, { type: 'sip', request }, correlationId);
        return reply.status === 'sip' ? reply.answer : ({ status: 500 } satisfies WireAnswer);
      },
      log,
      userAgent: `xmpp-teams-gateway/${o.version}`,
    });
    this.stanzas = new SfbStanzaHandler({
      directory: this.directory,
      allowed: (aor, domain) => this.verdict(aor, domain),
      pair: (key, message, correlationId) => this.tell(key, message, correlationId),
      xmpp: o.xmpp,
      metrics: o.metrics,
    });
  }

  /**
   * Homing by lookup (sfb.lookup): a one-time presence fetch (SUBSCRIBE, Expires: 0) on behalf of the XMPP user who
   * asks, its answer read by protocol/homing.ts against the pool's names (sfb.trustedPeers).
   */
  private homingLookups(log: Logger): HomingLookups {
    const c = this.o.config;
    return new HomingLookups({
      probe: async (aor, sender) => {
        const r = await this.app.subscribe(sender, aor, 0);
        return homingOf({ status: r.status, contact: header(r, 'Contact'), diagnostics: r.diagnostics }, c.trustedPeers);
      },
      budget: this.o.lookups,
      positiveTtlMs: c.lookup.positiveCacheSeconds * 1000,
      negativeTtlMs: c.lookup.negativeCacheSeconds * 1000,
      timeoutMs: c.lookup.timeoutSeconds * 1000,
      maxEntries: c.lookup.maxEntries,
      onLookup: (aor, outcome, why) => {
        const level = outcome === 'unknown' || outcome === 'timeout' ? 'warn' : 'debug';
        log.log(level, 'SfB homing lookup', { sfbUri: aor, outcome, ...(why ? { why } : {}) });
      },
    });
  }

  /** The whitelist for an SfB user: listed in policy.users by her SIP address (user@domain) or "*". */
  private verdict(aor: string, domain: string): { readonly allowed: true } | { readonly allowed: false; readonly reason: string } {
    return this.o.policy.verdict({ id: aor, upn: SfbDirectory.upnOf(aor) }, domain);
  }

  /**
   * An SfB pair actor of this tenant (`ctx.key` is the key within the tenant). The node has one supervisor for the
   * kind, as for Teams pairs: each actor is its tenant's (its key says which), built with its tenant's ports only.
   */
  pairActor(ctx: ActorContext): SfbPairActor {
    const c = this.o.config;
    const settings: SfbPairSettings = {
      componentDomain: this.o.componentDomain,
      fqdn: c.fqdn,
      subscriptionSeconds: c.subscriptionSeconds,
      sessionIdleSeconds: c.sessionIdleSeconds,
      outboxMaxAttempts: this.o.outbox.maxAttempts,
      outboxBackoffInitialMs: this.o.outbox.backoffInitialMs,
      outboxBackoffMaxMs: this.o.outbox.backoffMaxMs,
      onRateExceeded: this.o.throttleConfig.onExceeded,
      maxThrottleDelayMs: this.o.throttleConfig.maxDelaySeconds * 1000,
    };
    return new SfbPairActor(
      ctx,
      {
        store: this.o.store,
        sip: this.app,
        xmpp: this.o.xmpp,
        directory: this.directory,
        photos: this.photos,
        allowed: (aor, domain) => this.verdict(aor, domain).allowed,
        throttle: this.o.throttle,
        metrics: this.o.metrics,
        settings,
        now: Date.now,
      },
      (message) => void this.tell(parseSfbPairKey(ctx.key), message, randomUUID()).catch((err: unknown) => this.o.log.warn('SfB self-message failed', { actorKey: ctx.key, type: message.type, error: errorMessage(err) })),
    );
  }

  /** Where messages to SfB pair actors go (set once the node's router exists). */
  routeThrough(route: SfbRoute): void {
    this.route = route;
  }

  tell(key: SfbPairKey, message: SfbPairMessage, correlationId: string): Promise<SfbPairReply> {
    if (!this.route) return Promise.reject(new Error('the SfB side is not started'));
    // The actor key carries the tenant (issue 16): several tenants of a node may each have an SfB deployment.
    return this.route(tenantActorKey(this.o.tenant, sfbPairKey(key)), message, { correlationId });
  }

  async start(): Promise<void> {
    await this.photoServer?.start();
    await this.app.start();
  }

  /** No new SIP requests (the node stops the actors after, their timers with them). */
  async stop(): Promise<void> {
    await this.app.stop();
    await this.photoServer?.stop();
  }

  /** sfb.photos.publicUrl, else https://<application pool FQDN>:<photo server port>; undefined without a server. */
  private photoBaseUrl(): string | undefined {
    const c = this.o.config;
    if (!this.photoServer?.port) return undefined;
    return c.photos.publicUrl ?? `https://${c.applicationFqdn ?? c.fqdn}:${this.photoServer.port}`;
  }

  /** An outbox row's internal user id names an SfB pair: its actor drains it (the node's outbox sweep). */
  claimsOutbox(key: { teamsUserId: string; remoteJid: string }): boolean {
    const prefix = outboxUserId('');
    if (!key.teamsUserId.startsWith(prefix)) return false;
    void this.tell({ sfbUri: key.teamsUserId.slice(prefix.length), remoteJid: key.remoteJid }, { type: 'drain' }, randomUUID()).catch(() => undefined);
    return true;
  }

  /** After a (re)connection of the XMPP link or at start: every SfB pair learns presence again, one at a time. */
  async resyncAll(): Promise<void> {
    try {
      let after: SfbPairKey | undefined;
      for (;;) {
        const keys = await this.o.store.sfbPairKeys(after, 200);
        for (const k of keys) await this.tell(k, { type: 'resync' }, randomUUID()).catch(() => undefined);
        if (keys.length < 200) return;
        after = keys[keys.length - 1];
      }
    } catch (err) {
      this.o.log.warn('SfB presence resync failed', { error: errorMessage(err) });
    }
  }

  get listening(): boolean {
    return this.app.port > 0;
  }
}
