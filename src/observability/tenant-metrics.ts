/**
 * A tenant's view of the node's metrics (issue 16): the same registry, every sample of a metric that has a
 * `tenant` label written with the tenant's id. The label is bounded: its values are the configured tenant ids.
 * Node-wide metrics (actors, cluster, store) carry no tenant and pass through unchanged.
 *
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from './metrics.js';
import { DEFAULT_TENANT } from '../config/tenants-schema.js';

const WRITERS = new Set<PropertyKey>(['inc', 'dec', 'set', 'observe', 'startTimer', 'labels', 'remove']);

type Labelled = Counter | Gauge | Histogram;

function hasTenantLabel(m: Labelled): boolean {
  return ((m as unknown as { labelNames?: readonly string[] }).labelNames ?? []).includes('tenant');
}

/** Wraps one metric: a call with labels gets the tenant added; a call without gets `{ tenant }` first. */
function withTenant<M extends Labelled>(metric: M, tenant: string): M {
  return new Proxy(metric, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => unknown;
      if (!WRITERS.has(prop)) return fn.bind(target);
      return (...args: unknown[]) => {
        const first = args[0];
        if (typeof first === 'object' && first !== null) args[0] = { ...first, tenant };
        else args.unshift({ tenant });
        return fn.apply(target, args);
      };
    },
  });
}

/**
 * The single-tenant layout's tenant ("default") writes no label: its series, dashboards and alerts stay as they
 * were before tenants existed.
 */
export function tenantMetrics(metrics: Metrics, tenant: string): Metrics {
  if (tenant === DEFAULT_TENANT) return metrics;
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(metrics, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (!(value instanceof Counter || value instanceof Gauge || value instanceof Histogram) || !hasTenantLabel(value)) return value;
      let w = wrapped.get(prop);
      if (!w) wrapped.set(prop, (w = withTenant(value, tenant)));
      return w;
    },
  });
}

/**
 * A tenant removed at run time (issue 16): every series labelled with it goes, so that dashboards stop showing its
 * last values (a gauge of link state, actors, accounts) as if it were still served. Returns how many went.
 */
export async function forgetTenantSeries(metrics: Metrics, tenant: string): Promise<number> {
  let removed = 0;
  for (const m of metrics.registry.getMetricsAsArray()) {
    if (!(m instanceof Counter || m instanceof Gauge || m instanceof Histogram) || !hasTenantLabel(m)) continue;
    // A histogram's samples carry `le` (and come as _bucket/_sum/_count): one label set per series once it is dropped.
    const series = new Map<string, Record<string, string | number>>();
    for (const v of (await m.get()).values) {
      if (v.labels.tenant !== tenant) continue;
      const { le: _le, ...labels } = v.labels as Record<string, string | number>;
      series.set(JSON.stringify(labels), labels);
    }
    for (const labels of series.values()) {
      m.remove(labels);
      removed++;
    }
  }
  return removed;
}
