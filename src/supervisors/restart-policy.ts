/**
 * Restart decisions (DESIGN.md decision 3), as a pure function so the policy is table-tested: one-for-one,
 * at most `maxRestarts` within `windowMs` with exponential backoff between them; past that the actor is
 * stopped and the failure escalates to the node supervisor.
 */

export interface RestartPolicy {
  readonly maxRestarts: number;
  readonly windowMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export type RestartDecision =
  | { readonly action: 'restart'; readonly delayMs: number; readonly history: readonly number[] }
  | { readonly action: 'escalate'; readonly history: readonly number[] };

/** `history` holds the times of earlier restarts; the crash happens at `now`. */
export function decideRestart(policy: RestartPolicy, history: readonly number[], now: number): RestartDecision {
  const recent = history.filter((t) => now - t < policy.windowMs);
  if (recent.length >= policy.maxRestarts) return { action: 'escalate', history: recent };
  const delayMs = recent.length === 0 ? 0 : Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** (recent.length - 1));
  return { action: 'restart', delayMs, history: [...recent, now] };
}
