/**
 * The store with every call timed into `xtg_store_latency_seconds{op}` (issue: operations). The label is the
 * Store method name, a fixed set, so its cardinality is bounded. Each method's timed wrapper is made once (a
 * store call is on every message's path: no closure per call).
 */
import type { Metrics } from '../observability/metrics.js';
import type { Store } from './store.js';

export function timedStore(store: Store, metrics: Metrics): Store {
  const wrappers = new Map<string, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      let wrapped = wrappers.get(prop);
      if (!wrapped) {
        const fn = value as (...args: unknown[]) => unknown;
        const histogram = metrics.storeLatency.labels({ op: prop });
        wrapped = (...args: unknown[]) => {
          const started = performance.now();
          const result = fn.apply(target, args);
          if (result instanceof Promise) return result.finally(() => histogram.observe((performance.now() - started) / 1000));
          return result;
        };
        wrappers.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
