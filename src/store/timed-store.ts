/**
 * The store with every call timed into `xtg_store_latency_seconds{op}` (issue: operations). The label is the
 * Store method name, a fixed set, so its cardinality is bounded. Each method's timed wrapper is made once, as an
 * own property of the object returned (its prototype is the store): a store call is on every message's path, where a
 * Proxy's trap ran on every property read of the store.
 */
import type { Metrics } from '../observability/metrics.js';
import type { Store } from './store.js';

/** The names of the store's methods, its class's and its base classes'. */
function methodNames(store: Store): Set<string> {
  const names = new Set<string>();
  for (let p: object | null = Object.getPrototypeOf(store) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (name !== 'constructor' && typeof d?.value === 'function') names.add(name);
    }
  }
  return names;
}

export function timedStore(store: Store, metrics: Metrics): Store {
  const timed = Object.create(store) as Record<string, unknown>;
  for (const name of methodNames(store)) {
    // A name methodNames found: a function of the store's.
    const fn = (store as unknown as Record<string, (...args: unknown[]) => unknown>)[name] as (...args: unknown[]) => unknown;
    const histogram = metrics.storeLatency.labels({ op: name });
    timed[name] = (...args: unknown[]) => {
      const started = performance.now();
      const result = fn.apply(store, args);
      if (result instanceof Promise) return result.finally(() => histogram.observe((performance.now() - started) / 1000));
      return result;
    };
  }
  return timed as unknown as Store;
}
