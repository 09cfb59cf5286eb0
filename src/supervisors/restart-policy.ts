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

/** The `actors` configuration: defaults for every kind, and overrides per kind. */
export interface RestartSettings {
  readonly maxRestarts: number;
  readonly restartWindowSeconds: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly userPair?: Partial<Omit<RestartSettings, 'userPair' | 'remoteDomain'>> | undefined;
  readonly remoteDomain?: Partial<Omit<RestartSettings, 'userPair' | 'remoteDomain'>> | undefined;
  /** Issue 17: SfB pair actors. */
  readonly sfbPair?: Partial<Omit<RestartSettings, 'userPair' | 'remoteDomain'>> | undefined;
}

/** The restart policy of one actor kind: its override where set, the default otherwise. */
export function restartPolicyFor(settings: RestartSettings, kind: 'userPair' | 'remoteDomain' | 'sfbPair'): RestartPolicy {
  const o = settings[kind] ?? {};
  return {
    maxRestarts: o.maxRestarts ?? settings.maxRestarts,
    windowMs: (o.restartWindowSeconds ?? settings.restartWindowSeconds) * 1000,
    backoffInitialMs: o.backoffInitialMs ?? settings.backoffInitialMs,
    backoffMaxMs: o.backoffMaxMs ?? settings.backoffMaxMs,
  };
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
