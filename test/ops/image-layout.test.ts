// The image's runtime stage, reproduced outside Docker (CI has no Docker): a folder laid out like the image's file
// system gets what the Dockerfile's final stage COPYs (dist/ from the build, node_modules pruned with the build
// stage's own `npm prune` line, package.json, config/), then the image's ENTRYPOINT + CMD run there with its ENV and
// WORKDIR: `check-config` on each deploy/ node config (with /etc/xtg and /run/secrets mounted, as compose does),
// and `start` against an absent XMPP server: the node is alive on /healthz (the HEALTHCHECK command agrees) and not ready on /readyz, and
// SIGTERM stops it with exit code 0. Everything is read from the Dockerfile, so the test follows it when it changes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { writeLoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { freePorts } from '../support/ports.js';
import { TEST_LICENCE_KEY } from '../support/licence-test-key.js';
import { signLicence } from '../../tools/licence-signing.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Stage {
  readonly name: string | null;
  readonly instructions: Instruction[];
}

function stages(text: string): Stage[] {
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  return froms.map((from, i) => {
    const start = from.getRange().start.line;
    const end = froms[i + 1]?.getRange().start.line ?? Number.MAX_SAFE_INTEGER;
    return { name: from.getBuildStage(), instructions: df.getInstructions().filter((x) => x.getRange().start.line >= start && x.getRange().start.line < end) };
  });
}

const last = <T>(xs: T[]): T | undefined => xs[xs.length - 1];
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const workdir = (stage: Stage) => last(of(stage, 'WORKDIR'))?.getArgumentsContent() ?? '/';
const fromFlag = (i: Instruction): string | undefined => (i as Copy).getFromFlag?.()?.getValue() ?? undefined;
const jsonArgs = (i: Instruction | undefined): string[] => JSON.parse(i?.getArgumentsContent() ?? 'null') as string[];

/** ENV of a stage, KEY=value pairs (the form the Dockerfile uses). */
function env(stage: Stage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of of(stage, 'ENV')) {
    for (const [, k, v] of (e.getArgumentsContent() ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/gu)) out[k ?? ''] = v ?? '';
  }
  return out;
}

describe('the image layout and start command, outside Docker', { timeout: 120_000 }, () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const all = stages(dockerfile);
  const runtime = last(all);
  assert.ok(runtime);
  const work = mkdtempSync(join(tmpdir(), 'xtg-image-'));
  const fsRoot = join(work, 'rootfs'); // the image's "/"
  const inImage = (p: string) => join(fsRoot, p);
  const app = inImage(workdir(runtime));
  const imageEnv = env(runtime);
  const entrypoint = jsonArgs(last(of(runtime, 'ENTRYPOINT')));
  const cmd = jsonArgs(last(of(runtime, 'CMD')));

  /** Where the build stage's files are here: its WORKDIR is the repository (after `npm run build`). */
  let prunedModules = '';
  const fromBuild = (stage: Stage, path: string): string => {
    const rel = posix.relative(workdir(stage), path);
    assert.ok(!rel.startsWith('..'), `${path} is inside the build stage's WORKDIR`);
    if (rel === 'node_modules') return prunedModules;
    return join(ROOT, rel);
  };

  before(() => {
    // 1. node_modules as the build stage leaves it: the repository's, pruned with the Dockerfile's own command.
    const build = all.find((s) => s.name && of(runtime, 'COPY').some((c) => fromFlag(c) === s.name));
    assert.ok(build, 'the runtime stage copies from a build stage');
    const prune = of(build, 'RUN').map((r) => /npm prune[^&;\\\n]*/u.exec(r.getArgumentsContent() ?? '')?.[0]).find(Boolean);
    assert.ok(prune, 'the build stage prunes dev dependencies');
    const staging = join(work, 'build');
    mkdirSync(staging);
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(staging, f));
    const modules = realpathSync(join(ROOT, 'node_modules')); // a symlink in a git worktree
    assert.equal(spawnSync('cp', ['-a', modules, join(staging, 'node_modules')]).status, 0);
    const r = spawnSync('sh', ['-c', `${prune.trim()} --offline`], { cwd: staging, encoding: 'utf8' });
    assert.equal(r.status, 0, `${prune}: ${r.stderr}`);
    prunedModules = join(staging, 'node_modules');

    // 2. the runtime stage's COPY instructions, in order.
    for (const copy of of(runtime, 'COPY')) {
      const from = fromFlag(copy);
      const args = copy.getArguments().map((a) => a.getValue());
      const dest = args.pop() ?? '';
      const destPath = isAbsolute(dest) ? inImage(dest) : join(app, dest);
      const source = from ? all.find((s) => s.name === from) : undefined;
      if (from) assert.ok(source, `COPY --from=${from}: a stage of this Dockerfile`);
      for (const src of args) {
        const path = source ? fromBuild(source, src) : join(ROOT, src);
        assert.ok(existsSync(path), `COPY source ${src} exists here (${path}); run npm run build first`);
        const target = dest.endsWith('/') ? join(destPath, posix.basename(src)) : destPath;
        mkdirSync(dirname(target), { recursive: true });
        cpSync(path, target, { recursive: true, verbatimSymlinks: true });
      }
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const run = (args: string[], extraEnv: Record<string, string>) =>
    spawnSync(process.execPath, [...entrypoint.slice(1), ...args], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: work, ...imageEnv, ...extraEnv } });

  it('holds production dependencies only, and the compiled gateway', () => {
    assert.equal(entrypoint[0], 'node');
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(app, 'node_modules', d, 'package.json')), `dependency ${d}`);
    // (@types/* may stay: some production packages depend on them)
    for (const d of Object.keys(pkg.devDependencies).filter((x) => !x.startsWith('@types/'))) assert.ok(!existsSync(join(app, 'node_modules', d)), `dev dependency ${d} pruned`);
    assert.ok(existsSync(join(app, entrypoint[1] ?? '')), 'the ENTRYPOINT script');
    assert.ok(!existsSync(join(app, 'dist/test')), 'no tests nor emulator in the image');
    assert.ok(readdirSync(join(app, 'config')).includes('gateway.example.yaml'));
    const version = run(['--version'], {});
    assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('verifies licences and cannot make them: no signing tool, no test key (issue 12, docs/licensing.md)', () => {
    assert.ok(!existsSync(join(app, 'dist/tools')), 'no vendor signing tool in the image');
    for (const sub of ['keygen', 'sign']) {
      const r = run(['licence', sub], {});
      assert.equal(r.status, 2, sub);
      assert.match(r.stderr, /vendor's signing tool, which is not part of the gateway/u);
    }
    // A licence signed with the test key, which test builds trust, is refused by the image's release build.
    const terms = { id: 'L-T', licensee: 'Test Org', maxNodes: 99, issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 86_400_000).toISOString() };
    const file = join(work, 'test-signed.json');
    writeFileSync(file, JSON.stringify(signLicence(terms, TEST_LICENCE_KEY.privateKeyPem)));
    const show = run(['licence', 'show', '--file', file], {});
    assert.equal(show.status, 1, show.stdout);
    assert.match(show.stdout, /REJECTED \(untrusted-key\)/u);
    assert.match(show.stdout, /trusted: c888f6a22a19e02c\)/u);
  });

  it('check-config accepts each deploy/ node config with /etc/xtg and /run/secrets mounted (XTG_CONFIG)', () => {
    mkdirSync(inImage('run/secrets'), { recursive: true });
    mkdirSync(inImage('etc/xtg'), { recursive: true });
    const gateways = join(ROOT, 'deploy/gateway');
    for (const file of readdirSync(gateways)) {
      const text = readFileSync(join(gateways, file), 'utf8');
      for (const [, name] of text.matchAll(/\/run\/secrets\/([\w.-]+)/gu)) writeFileSync(inImage(`run/secrets/${name}`), `secret-${name}\n`);
      // The container's absolute paths, here under the image root.
      const config = inImage(`etc/xtg/${file}`);
      writeFileSync(config, text.replaceAll('/run/secrets/', `${inImage('run/secrets')}/`).replaceAll('/etc/xtg/', `${inImage('etc/xtg')}/`));
      const r = run(['check-config'], { XTG_CONFIG: config });
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
      assert.match(r.stdout, /valid/u);
      assert.match(r.stdout, /store SQL Server mssql:1433\/xtg/u);
    }
  });

  it('starts with the image command, serves /healthz without an XMPP server, and stops on SIGTERM with exit code 0', async () => {
    const [xmppPort, graphPort, webhookPort, adminPort] = await freePorts(4);
    // The configuration where the image expects it (XTG_CONFIG from the Dockerfile's ENV), under the image root.
    const configPath = inImage(imageEnv.XTG_CONFIG ?? '/etc/xtg/gateway.yaml');
    mkdirSync(dirname(configPath), { recursive: true });
    mkdirSync(inImage('var/lib/xtg'), { recursive: true });
    await writeLoopbackConfig(configPath, {
      componentPort: xmppPort ?? 0, // nothing listens there
      emulatorUrl: `https://127.0.0.1:${graphPort}`, // nor there
      webhookPort: webhookPort ?? 0,
      adminPort: adminPort ?? 0,
      sqlitePath: inImage('var/lib/xtg/gateway.sqlite'),
    });
    const child = spawn(process.execPath, [...entrypoint.slice(1), ...cmd], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', HOME: work, ...imageEnv, XTG_CONFIG: configPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = `http://127.0.0.1:${adminPort}/healthz`;
      let health: Response | undefined;
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && child.exitCode === null; ) {
        health = await fetch(url).catch(() => undefined);
        if (health) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(health, `/healthz answered; output:\n${out}`);
      const body = (await health.json()) as { ok: boolean; checks: Record<string, boolean> };
      // /healthz is liveness: the process is alive although its XMPP server is not there (no restart loop).
      assert.equal(health.status, 200);
      assert.equal(body.checks.xmpp, false, 'the body still shows the failing check');
      // /readyz is readiness: not ready without its XMPP server, and it says why.
      const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      assert.equal(ready.status, 503);
      const readyBody = (await ready.json()) as { checks: Record<string, boolean>; problems?: Record<string, string> };
      assert.equal(readyBody.checks.xmpp, false);
      assert.match(readyBody.problems?.xmpp ?? '', /XMPP component link/u);
      // The operator console's front end is in the image: its sign-in page and its entry module are served.
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/console/sign-in`)).status, 200);
      const mainJs = await fetch(`http://127.0.0.1:${adminPort}/console/assets/main.js`);
      assert.equal(mainJs.status, 200, 'dist/src/console/web is copied into the image');
      assert.match(mainJs.headers.get('content-type') ?? '', /^text\/javascript/u);
      // The image's HEALTHCHECK command gives the same answer as /healthz.
      const hc = last(of(runtime, 'HEALTHCHECK'))?.getArgumentsContent() ?? '';
      const hcCmd = JSON.parse(/CMD\s+(\[.*\])\s*$/su.exec(hc)?.[1] ?? 'null') as string[];
      assert.equal(hcCmd[0], 'node');
      const probe = spawnSync(process.execPath, hcCmd.slice(1), { cwd: app, env: { PATH: process.env.PATH ?? '', XTG_HEALTHCHECK_URL: url }, encoding: 'utf8' });
      assert.equal(probe.status, health.status === 200 ? 0 : 1, probe.stderr);

      const stopSignal = (last(of(runtime, 'STOPSIGNAL'))?.getArgumentsContent() ?? 'SIGTERM') as NodeJS.Signals;
      const sentAt = Date.now();
      child.kill(stopSignal);
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
      assert.equal(code, 0, `exit after ${stopSignal}; output:\n${out}`);
      assert.ok(Date.now() - sentAt < 10_000, 'stopped within 10 s');
      assert.match(out, /"message":"gateway node stopped"/u);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
