/**
 * Posts of one chat as a single JSON batch (https://learn.microsoft.com/en-us/graph/json-batching): pure building
 * of the request and reading of its answer, table-tested.
 * - At most 20 requests per batch; chained with dependsOn so that Graph runs them in order ("Batch should be either
 *   fully sequential or fully parallel"); a request after a failed one "fails with status code 424".
 * - Responses "might appear in a different order than the requests": they are matched by id.
 * - Each request is throttled on its own: a 429 inside the batch carries its own Retry-After
 *   (https://learn.microsoft.com/en-us/graph/throttling#throttling-and-batching). The batch itself answers 200,
 *   or 424 when one was throttled (the same page): both carry the responses.
 */
import { TeamsError, type ChatPost, type PostOutcome } from './teams-port.js';

export const MAX_BATCH_REQUESTS = 20;

export interface BatchRequestBody {
  readonly requests: readonly {
    readonly id: string;
    readonly method: 'POST';
    readonly url: string;
    readonly headers: { readonly 'Content-Type': 'application/json' };
    readonly body: unknown;
    readonly dependsOn?: readonly string[];
  }[];
}

/** The batch that posts `posts` into the chat in their order (ids "1".."n", each depending on the one before). */
export function postsBatch(chatId: string, posts: readonly ChatPost[]): BatchRequestBody {
  if (posts.length === 0 || posts.length > MAX_BATCH_REQUESTS) throw new RangeError(`a batch holds 1 to ${MAX_BATCH_REQUESTS} posts, not ${posts.length}`);
  const messages = `/chats/${encodeURIComponent(chatId)}/messages`;
  return {
    requests: posts.map((p, i) => ({
      id: String(i + 1),
      method: 'POST',
      url: p.replyToId === undefined ? messages : `${messages}/replyWithQuote`,
      headers: { 'Content-Type': 'application/json' },
      body:
        p.replyToId === undefined
          ? { body: { contentType: 'html', content: p.html } }
          : { messageIds: [p.replyToId], replyMessage: { body: { contentType: 'html', content: p.html } } },
      ...(i > 0 ? { dependsOn: [String(i)] } : {}),
    })),
  };
}

interface BatchResponse {
  readonly id?: unknown;
  readonly status?: unknown;
  readonly headers?: unknown;
  readonly body?: unknown;
}

/** Retry-After of one response of a batch (seconds, RFC 9110 §10.2.3), its header names in any case. */
function retryAfterOf(headers: unknown): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const v = Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  const s = typeof v === 'string' || typeof v === 'number' ? Number(v) : Number.NaN;
  return Number.isFinite(s) ? Math.max(0, s * 1000) : undefined;
}

/** Whether Graph's answer to the batch carries the responses of its requests (200, or 424 per throttling.md). */
export function hasResponses(body: unknown): body is { responses: unknown[] } {
  return typeof body === 'object' && body !== null && Array.isArray((body as { responses?: unknown }).responses);
}

/**
 * One outcome per post, in the posts' order, from the batch's answer. A response missing for a post, or one without
 * the message id, is a failure of unknown outcome (transient, status 0): the post may have reached Graph.
 */
export function postOutcomes(body: { responses: unknown[] }, count: number, what: string): PostOutcome[] {
  const byId = new Map<string, BatchResponse>();
  for (const r of body.responses as BatchResponse[]) if (typeof r === 'object' && r !== null && typeof r.id === 'string') byId.set(r.id, r);
  const outcomes: PostOutcome[] = [];
  for (let i = 1; i <= count; i++) {
    const r = byId.get(String(i));
    const status = typeof r?.status === 'number' ? r.status : 0;
    const id = (r?.body as { id?: unknown } | undefined)?.id;
    if (status >= 200 && status < 300 && typeof id === 'string') {
      outcomes.push({ id });
      continue;
    }
    if (!r || (status >= 200 && status < 300)) {
      // No answer, or a success without the message id: created or not, it is looked for before it goes again.
      outcomes.push({ error: new TeamsError(`${what}: Graph's batch answer has no message id for post ${i}`, 0, undefined, true) });
      continue;
    }
    const e = (r.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof e?.code === 'string' && e.code !== '' ? e.code : undefined;
    const message = typeof e?.message === 'string' ? e.message : `status ${status}`;
    // 424: not run because an earlier post failed; transient like 429 and 5xx (a later turn posts it).
    const transient = status === 424 || status === 429 || status >= 500 || status === 0;
    outcomes.push({ error: new TeamsError(`${what}: ${code ?? 'error'} ${message}`.trim(), status, code, transient, retryAfterOf(r.headers)) });
  }
  return outcomes;
}
