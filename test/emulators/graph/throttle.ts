/**
 * Injected throttling: the next `count` Graph requests matching a rule are answered as Graph answers a throttled
 * request (https://learn.microsoft.com/en-us/graph/throttling): 429 TooManyRequests with Retry-After in seconds,
 * or 503 ServiceUnavailable (which Graph also sends with Retry-After).
 */
import { GraphFault } from './errors.js';
import type { ThrottleRule } from './types.js';

interface ActiveRule {
  readonly method: string | undefined;
  readonly path: RegExp | string;
  remaining: number;
  readonly retryAfterSeconds: number;
  readonly status: 429 | 503;
}

export class Throttle {
  private readonly rules: ActiveRule[] = [];

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
    const i = this.rules.findIndex(
      (r) => (r.method === undefined || r.method === method.toUpperCase()) && (typeof r.path === 'string' ? pathWithQuery.includes(r.path) : ((r.path.lastIndex = 0), r.path.test(pathWithQuery))),
    );
    const rule = this.rules[i];
    if (!rule) return;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(i, 1);
    const headers = { 'Retry-After': String(rule.retryAfterSeconds) };
    if (rule.status === 503) throw new GraphFault(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please retry after the time given in Retry-After.', headers);
    throw new GraphFault(429, 'TooManyRequests', `Too many requests. Please retry after ${rule.retryAfterSeconds} seconds.`, headers);
  }
}
