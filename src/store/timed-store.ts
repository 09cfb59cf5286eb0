/**
 * The store with every call timed into `xtg_store_latency_seconds{op}` (issue: operations). The label is the
 * Store method name, a fixed set, so its cardinality is bounded.
 */
import type { Metrics } from '../observability/metrics.js';
import type { Store } from './store.js';

export function timedStore(store: Store, metrics: Metrics): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = fn.apply(target, args);
        if (result instanceof Promise) {
          return result.finally(() => metrics.storeLatency.observe({ op: prop }, (performance.now() - started) / 1000));
        }
        return result;
      };
    },
  });
}
