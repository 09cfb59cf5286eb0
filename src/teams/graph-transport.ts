/**
 * The last link of the Graph client's middleware chain: the HTTP exchange itself, instead of the global fetch
 * (undici) that @microsoft/microsoft-graph-client's HTTPMessageHandler calls. Same requests, same answers (a
 * GraphResponse in the shape of a fetch Response, which the client's response handler reads), for less CPU per
 * call (bench/relay.bench.ts: fetch's WHATWG streams and WebIDL conversions on every request), over node:https
 * keep-alive connections. HTTP/1.1, although Graph also offers HTTP/2 (Microsoft 365 message center MC447341,
 * September 2023): one HTTP/2 connection multiplexing every request cost more CPU per message here, not less
 * (bench/relay.bench.ts, 1 node: 1.40-1.55 ms against 1.06-1.36 ms per XMPP -> Teams message, alternated runs).
 * Requests the transport cannot express (a streamed body) still go through fetch.
 */
import { Agent, request } from 'node:https';
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import { GraphResponse, GraphResponseHeaders } from './graph-response.js';

/** HTTP/1.1 connections kept open per Graph origin: enough for the tenant's pace (20 posts/s per tenant). */
const MAX_SOCKETS = 64;
/** A request with no answer by then fails as "Graph not reachable", and is retried like any network failure. */
const REQUEST_TIMEOUT_MS = 60_000;
/**
 * An answer is read in full before the client sees it; one larger than this (far above a page of JSON or a hosted
 * image) fails as a network failure instead of growing the node's memory without bound.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

type Body = string | Buffer | Uint8Array | ArrayBuffer | undefined;

function headersOf(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) {
    h.forEach((v, k) => {
      out[k] = v;
    });
  } else if (Array.isArray(h)) {
    for (const [k, v] of h as [string, string][]) out[k] = v;
  } else {
    for (const [k, v] of Object.entries(h as Record<string, unknown>)) if (v !== undefined) out[k] = String(v);
  }
  return out;
}

function bodyOf(b: unknown): Body | null {
  if (b === undefined || b === null) return undefined;
  if (typeof b === 'string' || Buffer.isBuffer(b) || b instanceof Uint8Array || b instanceof ArrayBuffer) return b;
  return null; // a stream, a Blob, FormData: fetch handles it
}

export class NodeHttpsTransport implements Middleware {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });

  async execute(context: Context): Promise<void> {
    const req = context.request;
    const url = typeof req === 'string' ? req : req.url;
    const method = (context.options?.method ?? (typeof req === 'string' ? 'GET' : req.method)).toUpperCase();
    const body = typeof req === 'string' ? bodyOf(context.options?.body) : null;
    if (body === null || !url.startsWith('https:')) {
      context.response = await fetch(req, context.options);
      return;
    }
    const headers = headersOf(context.options?.headers);
    const payload = body instanceof ArrayBuffer ? Buffer.from(body) : body;
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
    context.response = (await this.exchange(url, method, headers, payload)).asResponse();
  }

  private exchange(url: string, method: string, headers: Record<string, string>, payload: Buffer | string | Uint8Array | undefined): Promise<GraphResponse> {
    return new Promise<GraphResponse>((resolve, reject) => {
      const r = request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_ANSWER_BYTES) {
            chunks.push(c);
            return;
          }
          reject(new Error(`Graph's answer to ${method} ${new URL(url).pathname} is larger than ${MAX_ANSWER_BYTES} bytes`));
          r.destroy();
        });
        res.on('error', reject);
        res.on('end', () => resolve(new GraphResponse(url, res.statusCode ?? 0, res.statusMessage ?? '', new GraphResponseHeaders(res.rawHeaders), Buffer.concat(chunks))));
      });
      r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error(`no answer from Graph within ${REQUEST_TIMEOUT_MS} ms`)));
      r.on('error', reject);
      r.end(payload);
    });
  }

  /** Closes the kept-alive connections (node stop). */
  close(): void {
    this.agent.destroy();
  }
}
