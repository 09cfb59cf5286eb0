/**
 * The project's own actor interface (DESIGN.md decision 1, virtual actors). An actor is addressed by kind and
 * key, processes one message at a time, keeps its durable state in the store and is rebuilt from it after a
 * crash or a passivation. Actors hold no sockets: they call the ports they are given.
 */
import type { Logger } from '../observability/logger.js';

export type ActorKind = 'user-pair' | 'remote-domain' | 'sfb-pair'; // sfb-pair: issue 17

/** Travels with every actor message: ties the log lines of one stanza or notification together. */
export interface Envelope {
  readonly correlationId: string;
}

export interface ActorContext {
  readonly kind: ActorKind;
  readonly key: string;
  readonly log: Logger;
}

export interface Actor<M, R> {
  /** Loads durable state; called on activation and again after each restart. */
  activate(): Promise<void>;
  /** Handles one message; a throw (or rejection) is a crash, handled by the supervisor. */
  receive(message: M, envelope: Envelope): Promise<R>;
  /** Stops timers before the activation is dropped (idle passivation or shutdown); not called after a crash. */
  passivate(): Promise<void>;
  /** True while the actor must stay active although idle (e.g. it refreshes a presence session). */
  isBusy?(): boolean;
}

export type ActorFactory<M, R> = (ctx: ActorContext) => Actor<M, R>;
