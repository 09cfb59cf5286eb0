/**
 * JSON batching, POST /v1.0/$batch (https://learn.microsoft.com/en-us/graph/json-batching):
 * - at most 20 requests, each with a unique (case-insensitive) id, a method and a relative url; a body needs a
 *   Content-Type header; a malformed batch is 400 as a whole;
 * - "Batch should be either fully sequential or fully parallel": parallel (no dependsOn) or a chain (each request
 *   depends on the one before it); anything else is refused with 400;
 * - each request runs as if sent alone with the batch's token, so it is "evaluated individually against the
 *   applicable throttling limits" and fails on its own with 429 and Retry-After (throttling.md, "Throttling and
 *   batching"); in a chain, "any request that depends on [a failed] request fails with status code 424";
 * - the batch answers 200 with one response per request, which "might appear in a different order than the
 *   requests": the emulator does not keep their order, so a client must match them by id.
 */
import { GraphFault } from './errors.js';
import type { Call, Reply } from './http.js';

export const MAX_BATCH_REQUESTS = 20;

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

interface Step {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly dependsOn: readonly string[];
}

export interface BatchResponse {
  readonly id: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

const bad = (message: string) => new GraphFault(400, 'BadRequest', message);

/** The batch's steps, validated as Graph does before running any of them. */
export function parseBatch(raw: Buffer): Step[] {
  let payload: unknown;
  try {
    payload = JSON.parse(raw.toString('utf8'));
  } catch {
    throw bad('Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
  }
  const requests = (payload as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) throw bad('Invalid batch payload format: a non-empty "requests" array is required.');
  if (requests.length > MAX_BATCH_REQUESTS) throw bad(`Number of requests in a batch is limited to ${MAX_BATCH_REQUESTS}.`);
  const seen = new Set<string>();
  const steps = requests.map((r: unknown): Step => {
    const o = (r ?? {}) as Record<string, unknown>;
    const { id, method, url, body } = o;
    if (typeof id !== 'string' || id === '') throw bad('Each request of a batch needs a string id.');
    if (seen.has(id.toLowerCase())) throw bad(`Batch request ids must be unique: '${id}' is repeated.`);
    seen.add(id.toLowerCase());
    if (typeof method !== 'string' || !METHODS.has(method.toUpperCase())) throw bad(`Request '${id}': invalid method.`);
    if (typeof url !== 'string' || url === '' || /^[a-z]+:/iu.test(url)) throw bad(`Request '${id}': url must be relative to the Graph version.`);
    const headers: Record<string, string> = {};
    if (o.headers !== undefined) {
      if (typeof o.headers !== 'object' || o.headers === null) throw bad(`Request '${id}': headers must be an object.`);
      for (const [k, v] of Object.entries(o.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    }
    if (body !== undefined && headers['content-type'] === undefined) throw bad(`Request '${id}': a request with a body must have a Content-Type header.`);
    const dependsOn = o.dependsOn === undefined ? [] : o.dependsOn;
    if (!Array.isArray(dependsOn) || !dependsOn.every((d): d is string => typeof d === 'string')) throw bad(`Request '${id}': dependsOn must be an array of ids.`);
    return { id, method: method.toUpperCase(), url, headers, body, dependsOn };
  });
  const parallel = steps.every((s) => s.dependsOn.length === 0);
  const chain = steps.every((s, i) => (i === 0 ? s.dependsOn.length === 0 : s.dependsOn.length === 1 && s.dependsOn[0]?.toLowerCase() === steps[i - 1]?.id.toLowerCase()));
  if (!parallel && !chain) throw bad('Batch should be either fully sequential or fully parallel.');
  return steps;
}

/** The reply of one request, as a batch response carries it (JSON bodies as JSON, binary ones in base64). */
function asResponse(id: string, reply: Reply): BatchResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.headers)) if (k.toLowerCase() !== 'content-length') headers[k] = v;
  const type = Object.entries(reply.headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (reply.body.length === 0) return { id, status: reply.status, headers };
  if (Buffer.isBuffer(reply.body) || !/json/iu.test(type)) return { id, status: reply.status, headers, body: Buffer.from(reply.body).toString('base64') };
  return { id, status: reply.status, headers, body: JSON.parse(reply.body) as unknown };
}

function failedDependency(id: string, on: string): BatchResponse {
  return {
    id,
    status: 424,
    headers: { 'Content-Type': 'application/json' },
    body: { error: { code: 'FailedDependency', message: `The request depends on request '${on}', which failed.` } },
  };
}

/**
 * Runs a validated batch: each step goes through `one` (the router, with its token check, injected faults and
 * service limits) as a request of its own carrying the batch's Authorization header.
 */
export async function runBatch(call: Call, steps: readonly Step[], one: (call: Call) => Promise<Reply>): Promise<BatchResponse[]> {
  const stepCall = (s: Step): Call => ({
    method: s.method,
    url: new URL(`/v1.0/${s.url.replace(/^\/+/u, '')}`, call.url.origin),
    headers: { ...s.headers, authorization: call.headers.authorization, host: call.headers.host },
    body: s.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof s.body === 'string' ? s.body : JSON.stringify(s.body)),
  });
  const run = async (s: Step): Promise<BatchResponse> => {
    if (/^\/*\$batch/iu.test(s.url)) return { id: s.id, status: 400, headers: {}, body: { error: { code: 'BadRequest', message: 'A batch cannot contain a batch.' } } };
    return asResponse(s.id, await one(stepCall(s)));
  };
  const done: BatchResponse[] = [];
  if (steps.every((s) => s.dependsOn.length === 0)) {
    // Parallel: they finish in whatever order they finish.
    await Promise.all(steps.map(async (s) => done.push(await run(s))));
  } else {
    let failed: string | undefined;
    for (const s of steps) {
      const r = failed === undefined ? await run(s) : failedDependency(s.id, failed);
      if (failed === undefined && r.status >= 400) failed = s.id;
      done.push(r);
    }
  }
  // "Individual responses might appear in a different order than the requests."
  return done.reverse();
}
