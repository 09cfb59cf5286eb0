// The Dockerfile passes `npm run lint:docker` (scripts/lint-dockerfile.mjs: dockerfile-utils' validator plus
// hadolint-style rules), and its runtime stage is what docs/operations.md promises: non-root, a HEALTHCHECK, the
// three ports, SIGTERM, no secret. The linter itself is checked on a bad Dockerfile, so a silent linter fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LINT = join(ROOT, 'scripts/lint-dockerfile.mjs');

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly severity: 'error' | 'warning';
  readonly code: string;
  readonly message: string;
}

function lint(file: string): { status: number | null; findings: Finding[] } {
  const r = spawnSync(process.execPath, [LINT, '--json', file], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.stderr, '', r.stderr);
  return { status: r.status, findings: JSON.parse(r.stdout) as Finding[] };
}

function finalStage(text: string): Instruction[] {
  const df = DockerfileParser.parse(text);
  const froms = df.getFROMs();
  const last = froms[froms.length - 1];
  assert.ok(last, 'the Dockerfile has a FROM');
  return df.getInstructions().filter((i) => i.getRange().start.line >= last.getRange().start.line);
}

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('passes the linter with no error and no warning', () => {
    const { status, findings } = lint('Dockerfile');
    assert.deepEqual(findings, []);
    assert.equal(status, 0);
  });

  it('runtime stage: node 20 slim, non-root uid, HEALTHCHECK, ports, SIGTERM, the CLI as entrypoint', () => {
    const stage = finalStage(text);
    const args = (keyword: string) => stage.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');
    assert.match(args('FROM')[0] ?? '', /^node:20-bookworm-slim\b/u);
    const user = args('USER').at(-1) ?? '';
    const uid = user.split(':')[0] ?? '';
    assert.match(uid, /^[1-9][0-9]*$/u, `USER ${user}: a numeric non-root uid (Kubernetes runAsNonRoot can check it)`);
    assert.equal(uid, '10001');
    const healthcheck = args('HEALTHCHECK').at(-1) ?? '';
    assert.match(healthcheck, /\bCMD\s+\[\s*"node"/u, 'HEALTHCHECK uses node (slim has no curl)');
    assert.match(healthcheck, /\/healthz/u);
    const exposed = args('EXPOSE').join(' ').split(/\s+/u);
    for (const port of ['9464', '8090', '9470']) assert.ok(exposed.includes(port), `EXPOSE ${port}`);
    assert.deepEqual(args('STOPSIGNAL'), ['SIGTERM']);
    assert.deepEqual(JSON.parse(args('ENTRYPOINT').at(-1) ?? 'null'), ['node', 'dist/src/main.js']);
    assert.deepEqual(JSON.parse(args('CMD').at(-1) ?? 'null'), ['start']);
    assert.match(args('ENV').join(' '), /XTG_CONFIG=\/etc\/xtg\/gateway\.yaml/u);
  });

  it('bakes no secret into the image', () => {
    const df = DockerfileParser.parse(text);
    for (const ins of df.getInstructions()) {
      const keyword = ins.getKeyword();
      if (keyword === 'ENV' || keyword === 'ARG' || keyword === 'LABEL') {
        assert.doesNotMatch(ins.getArgumentsContent() ?? '', /(password|passwd|secret|token|api_?key|private|credential)\s*=/iu, `line ${ins.getRange().start.line + 1}`);
      }
      if (keyword === 'COPY' || keyword === 'ADD') {
        assert.doesNotMatch(ins.getArgumentsContent() ?? '', /secrets?\/|\.pem\b|\.key\b|\.env\b/iu, `line ${ins.getRange().start.line + 1}`);
      }
    }
    // the build context cannot carry one either: .dockerignore starts from "nothing"
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(ignore[0], '*');
  });

  it('.dockerignore lets in every file the build copies from the context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('!'));
    const allowed = ignore.map((l) => l.slice(1).replace(/\/$/u, ''));
    const df = DockerfileParser.parse(text);
    for (const copy of df.getCOPYs()) {
      if (copy.getFromFlag()) continue;
      const sources = copy.getArguments().map((a) => a.getValue()).filter((v) => !v.startsWith('--')).slice(0, -1);
      for (const s of sources) {
        const path = s.replace(/^\.\//u, '').replace(/\/$/u, '');
        assert.ok(allowed.some((a) => path === a || path.startsWith(`${a}/`)), `COPY ${s} is excluded by .dockerignore`);
      }
    }
  });

  it('the linter reports a bad Dockerfile (so a silent linter cannot pass the test above)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtg-dockerfile-'));
    const bad = join(dir, 'Dockerfile');
    writeFileSync(
      bad,
      [
        'FROM node:latest AS build',
        'RUN apt-get update && apt-get install g++',
        'FROM node',
        'ENV CLUSTER_SECRET=s3cr3t',
        'COPY secrets/cluster.key /etc/xtg/',
        'ADD dist /app/dist',
        'frobnicate now',
        'USER root',
        'CMD node dist/src/main.js start',
        '',
      ].join('\n'),
    );
    const { status, findings } = lint(bad);
    assert.equal(status, 1);
    const codes = new Set(findings.map((f) => f.code));
    for (const code of ['DL3007', 'DL3006', 'DL3014', 'DL3015', 'DL3009', 'XTG-SECRET', 'XTG-SECRET-FILE', 'DL3020', 'DL3002', 'DL3025', 'XTG-HEALTHCHECK']) {
      assert.ok(codes.has(code), `expected ${code} in ${JSON.stringify(findings, null, 1)}`);
    }
    assert.ok(findings.some((f) => f.code.startsWith('dockerfile-utils:') && /Unknown instruction: FROBNICATE/iu.test(f.message)), 'the validator ran');
  });
});
