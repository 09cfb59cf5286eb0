// deploy/: the compose file parses and every file it mounts exists (or is an operator-provided secret/licence file
// named in that folder's README); the node configs are valid for the schema; the Grafana dashboard and the
// Prometheus alerts use only metrics the node exports, and the dashboard
// covers every gateway metric; the k8s manifests parse and probe /readyz and /healthz.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigSchema } from '../../src/config/schema.js';
import { Metrics } from '../../src/observability/metrics.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

/** Metrics another change adds in parallel; the dashboard has their panels already. */
/** Prometheus' own series. */
const PROMETHEUS_METRICS = ['up'];

async function exportedMetrics(): Promise<{ all: Set<string>; gateway: string[] }> {
  const metrics = new Metrics();
  const json = await metrics.registry.getMetricsAsJSON();
  const all = new Set<string>();
  for (const m of json) {
    all.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) all.add(`${m.name}${s}`);
  }
  const gateway = new Metrics({ defaultMetrics: false });
  return { all, gateway: (await gateway.registry.getMetricsAsJSON()).map((m) => m.name) };
}

function knownName(name: string, all: Set<string>): boolean {
  return all.has(name) || PROMETHEUS_METRICS.includes(name);
}

/** Metric names in a PromQL expression: identifiers that start with xtg_, plus a bare `up`. */
function metricNames(expr: string): string[] {
  const names = [...expr.matchAll(/\bxtg_[a-zA-Z0-9_:]+/gu)].map((m) => m[0]);
  if (/\bup\{/u.test(expr)) names.push('up');
  return names;
}

const readYaml = (path: string): unknown => parse(readFileSync(path, 'utf8'), { merge: true });

/** Operator-provided files: must be named in the README of their folder (deploy/secrets or deploy/licence). */
function operatorProvided(path: string): boolean {
  const rel = relative(DEPLOY, path);
  const folder = rel.split('/')[0];
  if (folder !== 'secrets' && folder !== 'licence') return false;
  const readme = readFileSync(join(DEPLOY, folder, 'README.md'), 'utf8');
  const inside = rel.slice(folder.length + 1);
  return readme.includes(`\`${inside}\``) || readme.includes(`\`${inside}/\``);
}

describe('deploy/compose.yaml', () => {
  type Service = { image?: string; build?: { context: string; dockerfile: string }; volumes?: string[]; secrets?: string[]; configs?: { source: string; target?: string }[]; depends_on?: Record<string, unknown> | string[] };
  const compose = readYaml(join(DEPLOY, 'compose.yaml')) as {
    services: Record<string, Service>;
    secrets: Record<string, { file: string }>;
    configs: Record<string, { file: string }>;
    volumes: Record<string, unknown>;
  };

  it('has the cluster: three gateway nodes, Redis, XMPP, SQL Server, a load balancer, Prometheus, Grafana', () => {
    const s = compose.services;
    for (const gw of ['gw-1', 'gw-2', 'gw-3']) {
      assert.equal(s[gw]?.build?.dockerfile, 'Dockerfile');
      assert.ok(existsSync(resolve(DEPLOY, s[gw]?.build?.context ?? '', 'Dockerfile')));
    }
    assert.match(s.redis?.image ?? '', /^redis:/u);
    assert.match(s.prosody?.image ?? '', /prosody/u);
    assert.equal(s.mssql?.image, 'mcr.microsoft.com/mssql/server:2022-latest');
    assert.match(s.lb?.image ?? '', /^nginx:/u);
    assert.match(s.prometheus?.image ?? '', /prometheus/u);
    assert.match(s.grafana?.image ?? '', /grafana/u);
    for (const service of Object.values(s)) assert.doesNotMatch(service.image ?? '', /:latest$/u);
  });

  it('mounts only files that exist, or that the secrets/licence README tells the operator to create', () => {
    const missing: string[] = [];
    const check = (what: string, path: string) => {
      const abs = resolve(DEPLOY, path);
      if (!existsSync(abs) && !operatorProvided(abs)) missing.push(`${what}: ${path}`);
    };
    for (const [name, service] of Object.entries(compose.services)) {
      for (const v of service.volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (source.startsWith('.') || source.startsWith('/')) check(`${name} volume`, source);
        else assert.ok(source in compose.volumes, `${name}: named volume ${source} is declared`);
      }
      for (const secret of service.secrets ?? []) assert.ok(compose.secrets[secret], `${name}: secret ${secret} is declared`);
      for (const config of service.configs ?? []) assert.ok(compose.configs[config.source], `${name}: config ${config.source} is declared`);
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const d of deps) assert.ok(compose.services[d], `${name} depends on ${d}, a service`);
    }
    for (const [name, s] of Object.entries(compose.secrets)) check(`secret ${name}`, s.file);
    for (const [name, c] of Object.entries(compose.configs)) check(`config ${name}`, c.file);
    assert.deepEqual(missing, []);
  });

  it('gives the gateways the files their configs read: secrets under /run/secrets, licence under /etc/xtg', () => {
    for (const gw of ['gw-1', 'gw-2', 'gw-3']) {
      const service = compose.services[gw] as Service;
      const mount = (service.volumes ?? []).find((v) => v.endsWith(':/etc/xtg/gateway.yaml:ro'));
      assert.ok(mount, `${gw} mounts its config at /etc/xtg/gateway.yaml`);
      const text = readFileSync(resolve(DEPLOY, mount.split(':')[0] ?? ''), 'utf8');
      for (const [, path] of text.matchAll(/\{file: (\/run\/secrets\/[^}]+)\}/gu)) {
        assert.ok(service.secrets?.includes(path?.slice('/run/secrets/'.length) ?? ''), `${gw}: ${path} is a secret of the service`);
      }
      const targets = (service.configs ?? []).map((c) => c.target);
      for (const [, path] of text.matchAll(/(\/etc\/xtg\/licence[^\s\]]*)/gu)) assert.ok(targets.includes(path ?? ''), `${gw}: ${path} is mounted`);
    }
  });
});

describe('deploy/gateway node configs', () => {
  const files = readdirSync(join(DEPLOY, 'gateway')).filter((f) => f.endsWith('.yaml'));
  it('are valid configurations: mssql store, Redis cluster, secret from a file, licence, xmpp.links one, unique node ids', () => {
    assert.equal(files.length, 3);
    const ids = new Set<string>();
    for (const f of files) {
      const parsed = ConfigSchema.safeParse(readYaml(join(DEPLOY, 'gateway', f)));
      assert.ok(parsed.success, `${f}: ${JSON.stringify(parsed.error?.issues)}`);
      const c = parsed.data;
      assert.equal(c.store.driver, 'mssql');
      assert.ok(c.cluster.redis?.url);
      assert.deepEqual(c.cluster.secret, { file: '/run/secrets/xtg-cluster' });
      assert.equal(c.cluster.licence.file, '/etc/xtg/licence.json');
      assert.equal(c.xmpp.links, 'one');
      assert.equal(c.admin.listen, '0.0.0.0:9464', 'Prometheus scrapes the nodes from another container');
      assert.ok(c.cluster.nodeId && !ids.has(c.cluster.nodeId));
      ids.add(c.cluster.nodeId);
      assert.equal(c.cluster.advertiseUrl, `http://${c.cluster.nodeId}:9470`);
    }
  });
  it('the Prometheus targets and the load balancer name every node', () => {
    const prometheus = readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8');
    const nginx = readFileSync(join(DEPLOY, 'nginx/nginx.conf'), 'utf8');
    for (const n of ['gw-1', 'gw-2', 'gw-3']) {
      assert.ok(prometheus.includes(`${n}:9464`));
      assert.ok(nginx.includes(`server ${n}:8090`));
    }
    assert.match(nginx, /proxy_next_upstream [^;]*http_503[^;]*non_idempotent/u, 'a 503 from a node that serves nothing is retried on another');
  });
});

describe('deploy/grafana/xtg-dashboard.json and Prometheus alerts', () => {
  type Panel = { type: string; title: string; targets?: { expr: string }[]; panels?: Panel[] };
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/xtg-dashboard.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { query?: unknown; definition?: string }[] } };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).concat(dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])));

  it('uses only metric names the node exports', async () => {
    const { all } = await exportedMetrics();
    for (const p of panels.filter((x) => x.type !== 'row')) assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has a query`);
    const unknown = [...new Set(exprs.flatMap(metricNames))].filter((n) => !knownName(n, all));
    assert.deepEqual(unknown, []);
  });

  it('has a panel for every gateway metric', async () => {
    const { gateway } = await exportedMetrics();
    const used = new Set(exprs.flatMap(metricNames).map((n) => n.replace(/_(bucket|sum|count)$/u, '')));
    const uncovered = gateway.filter((m) => !used.has(m));
    assert.deepEqual(uncovered, []);
  });

  it('the provisioning points Grafana at the dashboard and Prometheus', () => {
    const provider = readYaml(join(DEPLOY, 'grafana/provisioning/dashboards/xtg.yaml')) as { providers: { options: { path: string } }[] };
    const compose = readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8');
    assert.ok(compose.includes(`./grafana/xtg-dashboard.json:${provider.providers[0]?.options.path}/xtg-dashboard.json`));
    const ds = readYaml(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yaml')) as { datasources: { url: string }[] };
    assert.equal(ds.datasources[0]?.url, 'http://prometheus:9090');
  });

  it('alert rules use known metrics and link a runbook section of docs/operations.md', async () => {
    const { all } = await exportedMetrics();
    const rules = (readYaml(join(DEPLOY, 'prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string; annotations: { runbook: string } }[] }[] }).groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 5);
    const ops = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...ops.matchAll(/^#+ (.+)$/gmu)].map((m) => (m[1] ?? '').toLowerCase().replace(/[^a-z0-9 -]/gu, '').replace(/ /gu, '-')));
    for (const r of rules) {
      assert.deepEqual(metricNames(r.expr).filter((n) => !knownName(n, all)), [], r.alert);
      const anchor = r.annotations.runbook.split('#')[1] ?? '';
      assert.ok(anchors.has(anchor), `${r.alert}: docs/operations.md has a section #${anchor}`);
    }
  });
});

describe('deploy/k8s', () => {
  it('parses, and the StatefulSet runs as uid 10001 with readiness /readyz and liveness /healthz', () => {
    const dir = join(DEPLOY, 'k8s');
    const kustomization = readYaml(join(dir, 'kustomization.yaml')) as { resources: string[] };
    const docs = kustomization.resources.flatMap((r) => parseAllDocuments(readFileSync(join(dir, r), 'utf8')).map((d) => d.toJS() as { kind: string; spec?: unknown }));
    const sts = docs.find((d) => d.kind === 'StatefulSet') as { spec: { replicas: number; template: { spec: { securityContext: { runAsUser: number; runAsNonRoot: boolean }; containers: { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } } }[] } } } };
    assert.equal(sts.spec.replicas, 3);
    const pod = sts.spec.template.spec;
    assert.equal(pod.securityContext.runAsUser, 10001);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.containers[0]?.readinessProbe.httpGet.path, '/readyz');
    assert.equal(pod.containers[0]?.livenessProbe.httpGet.path, '/healthz');
    const config = docs.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const gateway = parse(config.data['gateway.yaml'] ?? '') as unknown;
    assert.ok(ConfigSchema.safeParse(JSON.parse(JSON.stringify(gateway).replaceAll('__POD_NAME__', 'xtg-0'))).success);
    assert.ok(dirname(dir));
  });

  type Port = { name: string; containerPort: number };
  type Peer = { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: { matchLabels: Record<string, string> } };
  type Policy = { kind: string; spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from?: Peer[]; ports?: { port: string | number; protocol: string }[] }[] } };
  const k8s = () => {
    const dir = join(DEPLOY, 'k8s');
    const kustomization = readYaml(join(dir, 'kustomization.yaml')) as { resources: string[] };
    return kustomization.resources.flatMap((r) => parseAllDocuments(readFileSync(join(dir, r), 'utf8')).map((d) => d.toJS() as Record<string, unknown>));
  };

  it('the nodes speak mutual TLS to each other: https advertise URLs, cluster.tls from a mounted Secret', () => {
    const docs = k8s();
    const config = docs.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const c = ConfigSchema.parse(JSON.parse(JSON.stringify(parse(config.data['gateway.yaml'] ?? '')).replaceAll('__POD_NAME__', 'xtg-0')));
    assert.equal(c.cluster.advertiseUrl, 'https://xtg-0.xtg-cluster:9470');
    assert.ok(c.cluster.tls);
    const sts = docs.find((d) => d.kind === 'StatefulSet') as unknown as { spec: { template: { spec: { containers: { volumeMounts: { name: string; mountPath: string }[] }[]; volumes: { name: string; secret?: { secretName: string } }[] } } } };
    const pod = sts.spec.template.spec;
    for (const file of [c.cluster.tls.certFile, c.cluster.tls.keyFile, c.cluster.tls.caFile]) {
      const mount = pod.containers[0]?.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${file} is mounted`);
      assert.ok(pod.volumes.find((v) => v.name === mount.name)?.secret, `${file} comes from a Secret`);
    }
  });

  it('a NetworkPolicy lets only the gateway pods reach the cluster port, the ingress the webhook, monitoring the admin port', () => {
    const docs = k8s();
    const policy = docs.find((d) => d.kind === 'NetworkPolicy') as unknown as Policy | undefined;
    assert.ok(policy, 'deploy/k8s has a NetworkPolicy (kustomization.yaml lists it)');
    const sts = docs.find((d) => d.kind === 'StatefulSet') as unknown as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports: Port[] }[] } } } };
    const labels = sts.spec.template.metadata.labels;
    assert.deepEqual(policy.spec.podSelector.matchLabels, { 'app.kubernetes.io/name': labels['app.kubernetes.io/name'] }, 'it selects the gateway pods');
    assert.ok(policy.spec.policyTypes.includes('Ingress'));
    const ports = sts.spec.template.spec.containers[0]?.ports ?? [];
    const allowed = new Map<string, Peer[]>();
    for (const rule of policy.spec.ingress) {
      assert.ok(rule.from && rule.from.length > 0, 'no rule is open to everyone');
      assert.ok(rule.ports && rule.ports.length > 0, 'no rule opens every port');
      for (const p of rule.ports) {
        const named = typeof p.port === 'string' ? p.port : ports.find((x) => x.containerPort === p.port)?.name;
        assert.ok(named && ports.some((x) => x.name === named), `port ${p.port} is a container port`);
        allowed.set(named, [...(allowed.get(named) ?? []), ...rule.from]);
      }
    }
    assert.deepEqual([...allowed.keys()].sort(), ports.map((p) => p.name).sort(), 'every port the pods open has a rule');
    assert.deepEqual(allowed.get('cluster'), [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': labels['app.kubernetes.io/name'] } } }], 'cluster port: gateway pods only');
    assert.ok(allowed.get('webhook')?.every((p) => p.namespaceSelector && !p.podSelector), 'webhook: from the ingress namespace');
    assert.ok(allowed.get('admin')?.every((p) => p.namespaceSelector && !p.podSelector), 'admin: from the monitoring namespace');
  });
});
