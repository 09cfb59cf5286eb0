/**
 * Delivers a message to an actor by kind and key. On one node (the embedded default) that is the local
 * supervisor; the Redis placement directory puts a cluster behind the same interface.
 */
import type { Envelope } from '../actors/actor.js';
import type { DomainMessage, DomainReply } from '../actors/remote-domain-actor.js';
import { pairKey } from '../actors/actor-keys.js';
import type { Outcome, PairMessage } from '../actors/user-pair-actor.js';
import type { ActorSupervisor } from '../supervisors/actor-supervisor.js';
import type { PairKey } from '../store/store.js';

export interface ActorRouter {
  pair(key: PairKey, message: PairMessage, envelope: Envelope): Promise<Outcome>;
  domain(domain: string, message: DomainMessage, envelope: Envelope): Promise<DomainReply>;
}

export class LocalRouter implements ActorRouter {
  constructor(
    private readonly pairs: ActorSupervisor<PairMessage, Outcome>,
    private readonly domains: ActorSupervisor<DomainMessage, DomainReply>,
  ) {}

  pair(key: PairKey, message: PairMessage, envelope: Envelope): Promise<Outcome> {
    return this.pairs.ask(pairKey(key), message, envelope);
  }

  domain(domain: string, message: DomainMessage, envelope: Envelope): Promise<DomainReply> {
    return this.domains.ask(domain, message, envelope);
  }
}
