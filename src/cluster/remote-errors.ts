/**
 * How a failure travels between nodes: the node that ran an actor message (or a forwarded XMPP send) describes
 * the error by name, message and typed detail, so the first sender can rebuild a typed error (NodeTransport's
 * RemoteCallError) and retry, refuse or answer as if it had run locally.
 */
import { StanzaError } from '../protocol/stanza-error.js';
import { RemoteCallError } from './node-transport.js';

/** What a node sends back when an actor message failed, so the sender can rebuild typed errors. */
export function describeError(err: unknown): { name: string; message: string; detail?: Record<string, unknown> } {
  if (err instanceof StanzaError) return { name: err.name, message: err.message, detail: { condition: err.condition, text: err.text, type: err.type } };
  // Forwarded by this node from another: the original failure travels on, so the first sender can retry it.
  if (err instanceof RemoteCallError) return { name: err.remoteName, message: err.message, detail: { ...err.detail } };
  if (err instanceof Error) {
    const condition = (err as { condition?: unknown }).condition;
    return { name: err.name, message: err.message, ...(typeof condition === 'string' ? { detail: { condition } } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
