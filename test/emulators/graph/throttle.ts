/**
 * Injected throttling: the next `count` Graph requests matching a rule are answered as Graph answers a throttled
 * request (https://learn.microsoft.com/en-us/graph/throttling): 429 TooManyRequests with Retry-After in seconds,
 * or 503 ServiceUnavailable (which Graph also sends with Retry-After).
 */
import { GraphFault } from './errors.js';
import type { RefusalRule, SlowReplyRule, ThrottleRule } from './types.js';

interface ActiveRule {
  readonly method: string | undefined;
  readonly path: RegExp | string;
  remaining: number;
  readonly retryAfterSeconds: number;
  readonly status: 429 | 503;
}

function matches(rule: { method: string | undefined; path: RegExp | string }, method: string, pathWithQuery: string): boolean {
  if (rule.method !== undefined && rule.method !== method.toUpperCase()) return false;
  if (typeof rule.path === 'string') return pathWithQuery.includes(rule.path);
  rule.path.lastIndex = 0;
  return rule.path.test(pathWithQuery);
}

export class Throttle {
  private readonly rules: ActiveRule[] = [];
  private readonly slow: { method: string | undefined; path: RegExp | string; remaining: number; delayMs: number }[] = [];
  private readonly refusals: { method: string | undefined; path: RegExp | string; remaining: number }[] = [];

  addRefusal(rule: RefusalRule): void {
    if (!Number.isInteger(rule.count) || rule.count < 1) throw new Error('refusal count must be a positive integer');
    this.refusals.push({ method: rule.method?.toUpperCase(), path: rule.path, remaining: rule.count });
  }

  addSlowReply(rule: SlowReplyRule): void {
    if (!Number.isInteger(rule.count) || rule.count < 1) throw new Error('slow reply count must be a positive integer');
    this.slow.push({ method: rule.method?.toUpperCase(), path: rule.path, remaining: rule.count, delayMs: rule.delayMs });
  }

  /** How long to hold the answer of this request (consumes one use of the first matching rule). */
  replyDelay(method: string, pathWithQuery: string): number {
    const i = this.slow.findIndex((r) => matches(r, method, pathWithQuery));
    const rule = this.slow[i];
    if (!rule) return 0;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.slow.splice(i, 1);
    return rule.delayMs;
  }

  add(rule: ThrottleRule): void {
    if (!Number.isInteger(rule.count) || rule.count < 1) throw new Error('throttle count must be a positive integer');
    if (!Number.isFinite(rule.retryAfterSeconds) || rule.retryAfterSeconds < 0) throw new Error('retryAfterSeconds must be >= 0');
    this.rules.push({
      method: rule.method?.toUpperCase(),
      path: rule.path,
      remaining: rule.count,
      retryAfterSeconds: rule.retryAfterSeconds,
      status: rule.status ?? 429,
    });
  }

  /** Consumes one use of the first matching rule and throws the throttling error; otherwise returns. */
  check(method: string, pathWithQuery: string): void {
    const r = this.refusals.findIndex((x) => matches(x, method, pathWithQuery));
    const refusal = this.refusals[r];
    if (refusal) {
      refusal.remaining -= 1;
      if (refusal.remaining <= 0) this.refusals.splice(r, 1);
      throw new GraphFault(403, 'Forbidden', 'Forbidden by the tenant policy (injected by a test).');
    }
    const i = this.rules.findIndex((r) => matches(r, method, pathWithQuery));
    const rule = this.rules[i];
    if (!rule) return;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(i, 1);
    const headers = { 'Retry-After': String(rule.retryAfterSeconds) };
    if (rule.status === 503) throw new GraphFault(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please retry after the time given in Retry-After.', headers);
    throw new GraphFault(429, 'TooManyRequests', `Too many requests. Please retry after ${rule.retryAfterSeconds} seconds.`, headers);
  }
}
