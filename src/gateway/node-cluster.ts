/**
 * A node's part in a cluster (DESIGN.md "cluster"): the RPC transport to the other nodes, membership with its
 * licence seat, the duties lease, the router that places actors through the Redis directory, and the reactions to
 * membership changes. A node alone has none of this (gateway.ts uses LocalRouter and LoneNodeLicence instead).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { DomainMessage, DomainReply } from '../actors/remote-domain-actor.js';
import type { Outcome, PairMessage } from '../actors/user-pair-actor.js';
import type { SfbPairMessage, SfbPairReply } from '../actors/sfb-pair/messages.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { ClusterRouter } from '../cluster/cluster-router.js';
import type { LeaderLease } from '../cluster/leader-lease.js';
import type { NodeRole } from '../cluster/membership.js';
import { NodeTransport } from '../cluster/node-transport.js';
import { describeError } from '../cluster/remote-errors.js';
import { SharedXmppLink } from '../cluster/shared-xmpp-link.js';
import type { RuntimeConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/store.js';
import type { ActorSupervisor } from '../supervisors/actor-supervisor.js';
import { splitHostPort } from '../teams/webhook-server.js';
import { SETTINGS } from './settings.js';
import type { TenantChannels } from './tenant-channels.js';
import type { TenantRuntime } from './tenant-runtime.js';

export interface NodeClusterOptions {
  readonly config: RuntimeConfig;
  readonly redis: Redis;
  readonly secret: string;
  readonly nodeId: string;
  readonly version: string;
  /** The node's own store (its licence seat events). */
  readonly store: Store;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The licence identities of the node's tenants of the moment. */
  readonly tenantIds: () => string[];
  readonly actorCount: () => number;
  readonly roles: () => NodeRole[];
}

/** The node's supervisors, one per actor kind. */
export interface NodeActors {
  readonly pairs: ActorSupervisor<PairMessage, Outcome>;
  readonly domains: ActorSupervisor<DomainMessage, DomainReply>;
  readonly sfbPairs: ActorSupervisor<SfbPairMessage, SfbPairReply> | undefined;
}

export class NodeCluster {
  readonly transport: NodeTransport;
  readonly node: ClusterNode;
  /** Cluster-wide duties (inbox, subscription renewal, outbox sweep, retention) run on the node that holds this. */
  readonly duties: LeaderLease;
  private fencing: NodeJS.Timeout | undefined;

  constructor(private readonly o: NodeClusterOptions) {
    const c = o.config.cluster;
    const [host, port] = splitHostPort(c.listen);
    const tls = c.tls;
    this.transport = new NodeTransport({
      host,
      port,
      secret: o.secret,
      nodeId: o.nodeId,
      log: o.log,
      describeError,
      tls: tls ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), ca: readFileSync(tls.caFile) } : undefined,
    });
    this.node = new ClusterNode({
      redis: o.redis,
      name: c.name,
      nodeId: o.nodeId,
      rpcUrl: c.advertiseUrl ?? `${tls ? 'https' : 'http'}://${c.listen}`,
      version: o.version,
      leaseMs: c.leaseSeconds * 1000,
      licenceFile: c.licence.file,
      publicKeys: c.licence.publicKeys,
      tenantIds: o.tenantIds,
      store: o.store,
      metrics: o.metrics,
      log: o.log,
      actorCount: o.actorCount,
      roles: o.roles,
    });
    this.duties = this.node.lease('duties');
  }

  /** The router that places every actor kind on the cluster's nodes. */
  router(actors: NodeActors): ClusterRouter {
    const node = this.node;
    return new ClusterRouter({
      nodeId: this.o.nodeId,
      pairs: actors.pairs,
      domains: actors.domains,
      sfbPairs: actors.sfbPairs as never, // issue 17
      membership: node.membership,
      directory: node.directory,
      transport: this.transport,
      serving: () => node.serving(),
      // A dead node's keys are free once its lease lapsed; messages for them wait that long and a bit more.
      deliveryDeadlineMs: this.o.config.cluster.leaseSeconds * 2000 + 5_000,
      callTimeoutMs: SETTINGS.actorCallTimeoutMs,
      wakeMessage: (kind) => (kind === 'remote-domain' ? ({ type: 'stats' } satisfies DomainMessage) : ({ type: 'drain' } satisfies PairMessage)),
      metrics: this.o.metrics,
      log: this.o.log,
    });
  }

  /**
   * Joins: listens for the other nodes, reacts to membership, lease and licence changes, listens to the tenants'
   * channels, takes a seat, and checks now and then that the actors here are still this node's (fencing).
   */
  async join(router: ClusterRouter, tenants: () => TenantRuntime[], channels: TenantChannels): Promise<void> {
    const { node, duties, transport } = this;
    await transport.start();
    duties.on('acquired', () => tenants().forEach((t) => t.chores.taken()));
    node.on('membership', () => {
      void router.rebalance().then((moved) => moved && this.o.log.info('actors handed off after a membership change', { moved }));
      for (const t of tenants()) void t.linkLease?.tick();
      void duties.tick();
      // A node left or died: the rows it had accepted wait in the store for their pairs' new owners.
      for (const t of tenants()) void t.chores.sweepOutbox();
    });
    node.on('lapsed', () => void router.fenceAll('this node\'s lease lapsed'));
    node.on('serving', (serving) => {
      for (const t of tenants()) t.policy.setDomainLimit(node.licence().maxRemoteDomains);
      // Not serving (licence, seat, lease): every actor goes, its directory entry released for the others.
      if (!serving) void router.handOffAll();
      for (const t of tenants()) if (t.link instanceof SharedXmppLink) void t.link.servingChanged();
      void duties.tick();
    });
    await channels.open(this.o.redis, tenants());
    await node.start();
    for (const t of tenants()) t.policy.setDomainLimit(node.licence().maxRemoteDomains);
    this.fencing = setInterval(() => void router.verifyOwnership().catch(() => undefined), this.o.config.cluster.leaseSeconds * 1000);
    this.fencing.unref();
  }

  /** Stops checking ownership (the first step of a node's stop). */
  stopFencing(): void {
    clearInterval(this.fencing);
  }
}
