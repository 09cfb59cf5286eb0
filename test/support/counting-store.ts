/** A store whose subscription lookups are counted (what a webhook request costs: test/teams, bench/webhook). */
import type { Store } from '../../src/store/store.js';

export function countingStore(store: Store, counts: { lookups: number }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop === 'findSubscription' || prop === 'subscriptions') counts.lookups++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
