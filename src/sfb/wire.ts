/**
 * SIP requests and answers as plain JSON values, so they cross the cluster's actor transport like any actor message:
 * the node that received a request answers it, the pair actor (wherever it lives) decides the answer.
 */
import type { SipHeader, SipRequest } from './sip/message.js';

export interface WireRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers: readonly SipHeader[];
  /** Base64. */
  readonly body: string;
}

export interface WireAnswer {
  readonly status: number;
  readonly reason?: string | undefined;
  /** The UAS tag when the answer creates a dialog (or for a request without one). */
  readonly toTag?: string | undefined;
  readonly headers?: readonly SipHeader[] | undefined;
  /** Base64. */
  readonly body?: string | undefined;
}

export function toWire(r: SipRequest): WireRequest {
  return { method: r.method, uri: r.uri, headers: r.headers, body: r.body.toString('base64') };
}

export function fromWire(w: WireRequest): SipRequest {
  return { kind: 'request', method: w.method, uri: w.uri, headers: w.headers, body: Buffer.from(w.body, 'base64') };
}
