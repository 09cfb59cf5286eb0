/**
 * Microsoft Graph v1.0 request handling: bearer token check, injected throttling, routing, and Graph's response
 * conventions (https://learn.microsoft.com/en-us/graph/errors): JSON with odata.metadata=minimal, request-id and
 * client-request-id headers on every response, errors in the {"error":{code,message,innerError}} envelope.
 * Path segments are matched case-insensitively, as Graph does; keys are URL-decoded.
 */
import { randomUUID } from 'node:crypto';
import { parseBatch, runBatch } from './batch.js';
import { faults, GraphFault, graphErrorBody } from './errors.js';
import { header, type Call, type Reply } from './http.js';
import type { LimitChain } from './service-limits.js';
import type { Throttle } from './throttle.js';
import type { AuthContext, TokenService } from './tokens.js';

export interface GraphRequest {
  readonly method: string;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly auth: AuthContext;
  /** The parsed JSON body; a malformed one is Graph's 400. */
  json(): unknown;
  /** The raw request body (binary uploads such as PUT .../photo/$value). */
  readonly raw: Buffer;
  /** A request header, case-insensitively. */
  header(name: string): string | undefined;
}

export interface GraphReply {
  readonly status: number;
  readonly body?: unknown;
  /** Binary content sent as is (its Content-Type in `headers`), instead of a JSON `body`. */
  readonly binary?: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Segments after /v1.0/, ":name" captures one segment. */
  readonly path: string;
  handle(req: GraphRequest): GraphReply | Promise<GraphReply>;
}

const JSON_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

function matches(pattern: readonly string[], segments: readonly string[], upTo: number): boolean {
  for (let i = 0; i < upTo; i++) {
    const p = pattern[i];
    const s = segments[i];
    if (p === undefined || s === undefined) return false;
    if (!p.startsWith(':') && p.toLowerCase() !== s.toLowerCase()) return false;
  }
  return true;
}

export class GraphRouter {
  private readonly routes: { route: Route; pattern: string[] }[];

  constructor(
    routes: readonly Route[],
    private readonly tokens: TokenService,
    private readonly throttle: Throttle,
    private readonly limits?: Pick<LimitChain, 'check'>,
  ) {
    this.routes = routes.map((route) => ({ route, pattern: route.path.split('/') }));
  }

  async handle(call: Call): Promise<Reply> {
    const requestId = randomUUID();
    const clientRequestId = header(call.headers, 'client-request-id') ?? requestId;
    const base: Record<string, string> = {
      'request-id': requestId,
      'client-request-id': clientRequestId,
      'x-ms-ags-diagnostic': JSON.stringify({ ServerInfo: { DataCenter: 'Loopback', Slice: 'E', Ring: '0', ScaleUnit: '000', RoleInstance: 'graph-emulator' } }),
      'Strict-Transport-Security': 'max-age=31536000',
      'Cache-Control': 'no-cache',
    };
    let tokenKind: Reply['tokenKind'] = 'none';
    try {
      const auth = this.tokens.authenticate(header(call.headers, 'authorization'));
      tokenKind = auth.kind;
      this.throttle.check(call.method, `${call.url.pathname}${call.url.search}`);
      if (call.method === 'POST' && /^\/v1\.0\/\$batch\/?$/iu.test(call.url.pathname)) {
        // Its requests count against the limits one by one (batch.ts), not the envelope.
        const responses = await runBatch(call, parseBatch(call.body), (inner) => this.handle(inner));
        return { status: 200, headers: { ...base, 'Content-Type': JSON_TYPE }, body: JSON.stringify({ responses }), tokenKind };
      }
      this.limits?.check(auth.appId, call.method, call.url.pathname, call.url.searchParams);
      const reply = await this.dispatch(call, auth);
      const delay = this.throttle.replyDelay(call.method, `${call.url.pathname}${call.url.search}`);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (reply.binary !== undefined) {
        return {
          status: reply.status,
          headers: { ...base, 'Content-Type': 'application/octet-stream', ...reply.headers, 'Content-Length': String(reply.binary.length) },
          body: reply.binary,
          tokenKind,
        };
      }
      if (reply.body === undefined) {
        return { status: reply.status, headers: { ...base, ...reply.headers, 'Content-Length': '0' }, body: '', tokenKind };
      }
      return { status: reply.status, headers: { ...base, 'Content-Type': JSON_TYPE, ...reply.headers }, body: JSON.stringify(reply.body), tokenKind };
    } catch (err) {
      const f = err instanceof GraphFault ? err : new GraphFault(500, 'UnknownError', err instanceof Error ? err.message : String(err));
      const extra: Record<string, string> =
        f.status === 401 ? { 'WWW-Authenticate': `Bearer realm="", authorization_uri="${call.url.origin}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"` } : {};
      return {
        status: f.status,
        headers: { ...base, 'Content-Type': JSON_TYPE, ...extra, ...f.headers },
        body: JSON.stringify(graphErrorBody(f.code, f.message, requestId, clientRequestId)),
        tokenKind,
      };
    }
  }

  private dispatch(call: Call, auth: AuthContext): GraphReply | Promise<GraphReply> {
    const raw = call.url.pathname.split('/').slice(2).filter((s, i, all) => s !== '' || i < all.length - 1);
    const segments = raw.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw faults.badRequest(`Invalid URL segment '${s}'.`);
      }
    });
    const candidates = this.routes.filter((r) => r.pattern.length === segments.length && matches(r.pattern, segments, segments.length));
    const hit = candidates.find((r) => r.route.method === call.method);
    if (!hit) {
      if (candidates.length > 0) throw new GraphFault(405, 'BadRequest', `The HTTP method '${call.method}' is not supported for this resource.`);
      // Graph names the first segment it could not resolve.
      for (let i = 0; i < segments.length; i++) {
        if (!this.routes.some((r) => r.pattern.length > i && matches(r.pattern, segments, i + 1))) throw faults.segmentNotFound(segments[i] as string);
      }
      throw faults.segmentNotFound(segments[segments.length - 1] ?? '');
    }
    const params = hit.pattern.flatMap((p, i) => (p.startsWith(':') ? [segments[i] as string] : []));
    let parsed: { value: unknown } | undefined;
    const req: GraphRequest = {
      method: call.method,
      params,
      query: call.url.searchParams,
      auth,
      raw: call.body,
      header: (name) => header(call.headers, name),
      json: () => {
        if (parsed) return parsed.value;
        const text = call.body.toString('utf8');
        try {
          parsed = { value: text.trim() === '' ? {} : (JSON.parse(text) as unknown) };
        } catch {
          throw faults.malformedJson();
        }
        return parsed.value;
      },
    };
    return hit.route.handle(req);
  }
}

/** "@odata.context" values: `${graph}/v1.0/$metadata#fragment`. */
export function odataContext(url: string, fragment: string): string {
  return `${url}/v1.0/$metadata#${fragment}`;
}
