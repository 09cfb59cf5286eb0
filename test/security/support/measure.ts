/**
 * What an attack cost the gateway, read from outside as an operator would: the node's Prometheus metrics, its
 * store (read-only), its process's memory in /proc, its log lines, and the Graph calls the emulator saw.
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parsePrometheus } from '../../support/prometheus.js';
import type { Federation } from '../../support/federation.js';

/** The sum of a metric's samples whose labels include `labels`. */
export async function metric(f: Federation, name: string, labels: Record<string, string> = {}): Promise<number> {
  const family = parsePrometheus(await f.gateway.metrics()).get(name);
  if (!family) return 0;
  return family.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Rows of a store table (the SQLite file the node writes; WAL lets a reader in). */
export function rows(f: Federation, table: 'pairs' | 'puppets' | 'outbox'): number {
  const db = new Database(`${f.dir}/gateway.sqlite`, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Resident memory of the node's process now and at its peak (VmRSS, VmHWM), in MiB. */
export function memory(f: Federation): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${f.gateway.pid ?? 0}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'mu').exec(status)?.[1] ?? 0);
  return { rssMiB: Math.round(kib('VmRSS') / 1024), peakMiB: Math.round(kib('VmHWM') / 1024) };
}

/** Graph requests the emulator answered since `since` (an index into its request log), minus periodic reads. */
export function graphCalls(f: Federation, since: number): { method: string; path: string }[] {
  // Group memberships and subscription upkeep are re-read on timers, whatever the attacker does.
  return f.emulator
    .requests()
    .slice(since)
    .filter((r) => !r.path.includes('/groups/') && !r.path.startsWith('/v1.0/subscriptions') && !r.path.includes('/oauth2/') && !r.path.includes('/.well-known/'));
}

/** The tenant's users as the emulator's control API lists them (GET /_emulator/users). */
export async function tenantUsers(f: Federation): Promise<{ id: string; userPrincipalName: string; displayName: string }[]> {
  const res = await fetch(`${f.emulator.url}/_emulator/users`);
  return ((await res.json()) as { value: { id: string; userPrincipalName: string; displayName: string }[] }).value;
}

/** Waits until the node has read `n` more stanzas off its link than `before` and the count stopped moving. */
export async function drained(f: Federation, before: number, n: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const now = (await metric(f, 'xtg_xmpp_stanzas_received_total')) - before;
    if (now >= n && now === last) return now;
    if (Date.now() > deadline) throw new Error(`the node read ${now} of ${n} stanzas within ${timeoutMs} ms`);
    last = now;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** CPU seconds the node's process has used so far (user + system, /proc/<pid>/stat; 100 ticks a second on Linux). */
export function cpuSeconds(f: Federation): number {
  const stat = readFileSync(`/proc/${f.gateway.pid ?? 0}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
