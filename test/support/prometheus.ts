/** Parses the Prometheus text exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    for (const suffix of ['_bucket', '_sum', '_count', '']) {
      const base = suffix && sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : sample;
      const f = families.get(base);
      if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/u.exec(line);
    if (type) {
      families.set(type[1] as string, { name: type[1] as string, type: type[2] as string, samples: [] });
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/u.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gu)) labels[l[1] as string] = l[2] as string;
    const family = familyOf(m[1] as string);
    if (!family) throw new Error(`sample ${m[1]} without a # TYPE line`);
    family.samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return families;
}

/** Sum of a family's samples (of one sample name), optionally filtered by labels. */
export function total(families: Map<string, Family>, sample: string, where: Record<string, string> = {}): number {
  const base = sample.replace(/_(bucket|sum|count)$/u, '');
  const f = families.get(sample) ?? families.get(base);
  return (f?.samples ?? []).filter((s) => s.name === sample && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}
