/**
 * A summary of V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes one per thread): where the time went,
 * as the functions with the most self time and as the share of samples whose stack passes through each area
 * (the store, the Graph client, MSAL, xmpp.js, logging...). Inclusive shares overlap; self times add up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Areas by the file a frame comes from; the first match names it. */
const AREAS: readonly (readonly [string, RegExp])[] = [
  ['store (src/store)', /\/dist\/src\/store\//u],
  ['better-sqlite3', /node_modules\/better-sqlite3\//u],
  ['Graph client (@microsoft/microsoft-graph-client)', /node_modules\/@microsoft\/microsoft-graph-client\//u],
  ['MSAL and @azure/identity', /node_modules\/@azure\//u],
  ['HTTP client (undici / fetch)', /node:internal\/deps\/undici|undici/u],
  ['xmpp.js and ltx', /node_modules\/(@xmpp|ltx)\//u],
  ['logging (winston, logform)', /node_modules\/(winston|logform|winston-transport|triple-beam)\//u],
  ['metrics (prom-client)', /node_modules\/prom-client\//u],
  ['tracing (@opentelemetry)', /node_modules\/@opentelemetry\//u],
  ['rate limits and Graph pacing (token buckets)', /rate-buckets\.js|token-bucket\.js|graph-pacing\.js|policy\/throttle\.js/u],
  ['actors (comedy)', /node_modules\/comedy\//u],
  ['webhook (src/teams/webhook-server, notification-processor)', /\/dist\/src\/teams\/(webhook-server|notification-processor)/u],
  ['TLS (node:tls, _tls_wrap)', /node:(tls|_tls_wrap|internal\/tls)/u],
  ['http server/client (node:http)', /node:(_http_|http)/u],
];

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  readonly top: readonly { readonly name: string; readonly selfMs: number; readonly share: number }[];
  readonly areas: readonly { readonly area: string; readonly inclusiveMs: number; readonly share: number }[];
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 6);
  const j = url.lastIndexOf('node_modules/');
  if (j >= 0) return url.slice(j + 13);
  return url.replace(/^file:\/\//u, '');
}

export function summarize(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n] as const));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const name = byId.get(id)?.callFrame.functionName;
    if (name === '(idle)') {
      idle += dt;
      return;
    }
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  // Areas: a sample counts once for every area on its stack.
  const areaMs = new Map<string, number>();
  const areaOfNode = new Map<number, Set<string>>();
  const areasOf = (id: number): Set<string> => {
    const known = areaOfNode.get(id);
    if (known) return known;
    const n = byId.get(id);
    const up = parent.get(id);
    const set = new Set(up === undefined ? [] : areasOf(up));
    const hit = n ? AREAS.find(([, re]) => re.test(n.callFrame.url)) : undefined;
    if (hit) set.add(hit[0]);
    if (n?.callFrame.functionName === '(garbage collector)') set.add('garbage collector');
    areaOfNode.set(id, set);
    return set;
  };
  for (const [id, ms] of self) for (const a of areasOf(id)) areaMs.set(a, (areaMs.get(a) ?? 0) + ms);
  // Self time by function (same name and place across call sites).
  const byFunction = new Map<string, number>();
  for (const [id, ms] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const name = `${f.functionName || '(anonymous)'}${f.url ? ` ${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  void idle;
  return {
    file,
    totalMs: total,
    top: [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([name, ms]) => ({ name, selfMs: ms, share: ms / total })),
    areas: [...areaMs.entries()].sort((a, b) => b[1] - a[1]).map(([area, ms]) => ({ area, inclusiveMs: ms, share: ms / total })),
  };
}

export function printProfiles(dir: string, topN = 25): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  if (files.length === 0) {
    console.log(`  (no CPU profile written in ${dir})`);
    return;
  }
  for (const f of files) {
    const s = summarize(join(dir, f), topN);
    if (s.totalMs < 50) continue; // an idle helper thread
    console.log(`  CPU profile ${f}: ${s.totalMs.toFixed(0)} ms on CPU (idle excluded)`);
    console.log('    by area (share of samples whose stack passes through it; areas overlap):');
    for (const a of s.areas) console.log(`      ${(a.share * 100).toFixed(1).padStart(5)}%  ${a.area}`);
    console.log(`    top ${topN} functions by self time:`);
    for (const t of s.top) console.log(`      ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(6)} ms  ${t.name}`);
  }
}
