// `npm run lint:docker [FILE...]` (default: Dockerfile): lints a Dockerfile; exit code 1 when it finds anything.
//
// Two layers:
// - dockerfile-utils' validator (the one behind the VS Code Docker extension): syntax and semantics (unknown
//   instructions and flags, bad arguments, invalid ports and signals, several CMD/ENTRYPOINT/HEALTHCHECK in a stage,
//   JSON arrays in single quotes, relative WORKDIR, lower-case instructions, MAINTAINER). Every rule is an error here.
// - rules of our own on its parser (dockerfile-ast), after hadolint's (its DL numbers in brackets, which is not
//   packaged for Debian bookworm nor on npm): base images with an explicit tag [DL3006, DL3007]; apt-get install
//   with -y and --no-install-recommends, its lists removed in the same RUN [DL3014, DL3015, DL3009]; COPY rather
//   than ADD for local files [DL3020]; no sudo [DL3004]; no `cd` in RUN [DL3003]; JSON form for ENTRYPOINT and CMD
//   [DL3025]; the final stage runs as a non-root USER [DL3002]; and, for this project, a HEALTHCHECK in the final
//   stage, and no secret in ENV/ARG/LABEL nor secret-looking files copied into the image.
//
// `--json` prints the findings as a JSON array ({file, line, severity, code, message}) instead of text lines.
import { readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';

const ERROR = 2; // dockerfile-utils ValidationSeverity.ERROR
const STRICT = {
  deprecatedMaintainer: ERROR,
  directiveCasing: ERROR,
  emptyContinuationLine: ERROR,
  instructionCasing: ERROR,
  instructionCmdMultiple: ERROR,
  instructionEntrypointMultiple: ERROR,
  instructionHealthcheckMultiple: ERROR,
  instructionJSONInSingleQuotes: ERROR,
  instructionWorkdirRelative: ERROR,
};

const SECRET_NAME = /(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth)/iu;
const SECRET_VALUE = [/-----BEGIN [A-Z ]*PRIVATE KEY-----/u, /^[A-Za-z0-9+/=_-]{32,}$/u, /:\/\/[^/\s:@]+:[^/\s@]+@/u];
const SECRET_FILE = /(^|\/)(\.env(\..*)?|.*\.(pem|key|p12|pfx|jks)|id_(rsa|ed25519|ecdsa)|secrets?(\/.*)?)$/iu;

/** Findings for one Dockerfile's text: [{line (1-based), severity 'error'|'warning', code, message}]. */
export function lintDockerfile(text) {
  const findings = [];
  const add = (range, code, message, severity = 'error') => findings.push({ line: (range?.start.line ?? 0) + 1, severity, code, message });

  for (const d of validate(text, STRICT)) add(d.range, `dockerfile-utils:${d.code}`, d.message, d.severity === 1 ? 'error' : 'warning');

  const dockerfile = DockerfileParser.parse(text);
  const instructions = dockerfile.getInstructions();
  const froms = dockerfile.getFROMs();
  const stageNames = new Set(froms.map((f) => f.getBuildStage()?.toLowerCase()).filter(Boolean));
  const args = new Map(dockerfile.getInitialARGs().map((a) => [a.getProperty()?.getName(), a.getProperty()?.getValue() ?? '']));

  for (const from of froms) {
    let image = from.getImage() ?? '';
    image = image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/gu, (_, name) => args.get(name) ?? '');
    if (stageNames.has(image.toLowerCase()) || image === 'scratch') continue;
    const [, tag] = /^(?:.*\/)?[^/:@]+(?::([^@]+))?(?:@.+)?$/u.exec(image) ?? [];
    if (!image.includes('@') && !tag) add(from.getRange(), 'DL3006', `base image ${image || '(empty)'} has no explicit tag`);
    if (tag === 'latest') add(from.getRange(), 'DL3007', `base image ${image} uses the tag latest: pin a version`);
  }

  for (const ins of instructions) {
    const keyword = ins.getKeyword();
    const content = ins.getArgumentsContent() ?? '';
    if (keyword === 'RUN') {
      for (const cmd of content.split(/&&|\|\||;/u).map((c) => c.trim())) {
        if (/^sudo\b/u.test(cmd)) add(ins.getRange(), 'DL3004', 'do not use sudo: the build runs as root, or switch USER');
        if (/^cd\s/u.test(cmd)) add(ins.getRange(), 'DL3003', 'use WORKDIR instead of cd', 'warning');
        if (/^apt-get\s+(.*\s)?install\b/u.test(cmd)) {
          if (!/\s(-y|--yes|-qq|--assume-yes)\b/u.test(cmd)) add(ins.getRange(), 'DL3014', 'apt-get install without -y');
          if (!/--no-install-recommends\b/u.test(cmd)) add(ins.getRange(), 'DL3015', 'apt-get install without --no-install-recommends');
          if (!/rm\s+-r?f?r?\s+\/var\/lib\/apt\/lists/u.test(content)) add(ins.getRange(), 'DL3009', 'remove /var/lib/apt/lists/* in the RUN that installs packages');
        }
      }
    }
    if (keyword === 'ADD') {
      const sources = ins.getArguments().slice(0, -1).map((a) => a.getValue()).filter((v) => !v.startsWith('--'));
      if (sources.some((s) => !/^(https?|git):\/\//u.test(s) && !/\.(tar|tgz|tar\.\w+)$/u.test(s))) add(ins.getRange(), 'DL3020', 'use COPY instead of ADD for files and folders');
    }
    if ((keyword === 'ENTRYPOINT' || keyword === 'CMD') && !content.trim().startsWith('[')) {
      add(ins.getRange(), 'DL3025', `${keyword} in shell form: use the JSON form so the node gets the signals (SIGTERM) itself`);
    }
    if (keyword === 'ENV' || keyword === 'ARG' || keyword === 'LABEL') {
      for (const p of ins.getProperties?.() ?? []) {
        const name = p.getName();
        const value = p.getValue() ?? '';
        if (value !== '' && SECRET_NAME.test(name)) add(p.getRange(), 'XTG-SECRET', `${keyword} ${name} looks like a secret baked into the image: mount it under /run/secrets or pass it at run time`);
        else if (SECRET_VALUE.some((re) => re.test(value))) add(p.getRange(), 'XTG-SECRET', `${keyword} ${name} has a value that looks like a secret`);
      }
    }
    if (keyword === 'COPY' || keyword === 'ADD') {
      const sources = ins.getArguments().map((a) => a.getValue()).filter((v) => !v.startsWith('--')).slice(0, -1);
      for (const s of sources) if (SECRET_FILE.test(s.replace(/\/+$/u, ''))) add(ins.getRange(), 'XTG-SECRET-FILE', `${keyword} ${s}: secret-looking file copied into the image`);
    }
  }

  // The final stage: what the image runs.
  const last = froms[froms.length - 1];
  const finalStage = last ? instructions.filter((i) => i.getRange().start.line >= last.getRange().start.line) : [];
  const users = finalStage.filter((i) => i.getKeyword() === 'USER');
  const user = users[users.length - 1];
  const name = (user?.getArgumentsContent() ?? '').split(':')[0]?.trim() ?? '';
  if (!user) add(last?.getRange(), 'DL3002', 'the final stage has no USER: the node would run as root');
  else if (name === 'root' || /^0+$/u.test(name)) add(user.getRange(), 'DL3002', 'the final stage runs as root');
  const healthchecks = finalStage.filter((i) => i.getKeyword() === 'HEALTHCHECK');
  const hc = healthchecks[healthchecks.length - 1];
  if (!hc) add(last?.getRange(), 'XTG-HEALTHCHECK', 'the final stage has no HEALTHCHECK');
  else if (/^NONE\b/iu.test(hc.getArgumentsContent() ?? '')) add(hc.getRange(), 'XTG-HEALTHCHECK', 'HEALTHCHECK NONE in the final stage');

  return findings.sort((a, b) => a.line - b.line);
}

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const json = process.argv.includes('--json');
  const files = process.argv.slice(2).filter((a) => a !== '--json');
  const results = (files.length ? files : ['Dockerfile']).flatMap((file) => lintDockerfile(readFileSync(file, 'utf8')).map((f) => ({ file, ...f })));
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else for (const f of results) process.stdout.write(`${f.file}:${f.line}: ${f.severity} ${f.code}: ${f.message}\n`);
  if (!json && results.length === 0) process.stdout.write(`${(files.length ? files : ['Dockerfile']).join(', ')}: no problems\n`);
  process.exitCode = results.length ? 1 : 0;
}
