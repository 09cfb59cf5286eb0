/**
 * A store whose calls of some methods are counted: by default its subscription lookups (what a webhook request
 * costs: test/teams, bench/webhook).
 */
import type { Store } from '../../src/store/store.js';

export function countingStore(store: Store, counts: { lookups: number }, methods: readonly (keyof Store)[] = ['findSubscription', 'subscriptions']): Store {
  const counted = new Set<PropertyKey>(methods);
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (counted.has(prop)) counts.lookups++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
