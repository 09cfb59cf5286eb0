// The test command (`npm test`, also what .ci/run calls), after `tsc` built dist/:
// installs missing OS packages: prosody, redis-server, and ejabberd, chromium, kamailio, baresip, lua-unbound or python3-slixmpp when a selected test file needs them (apt-get as root, else
// prints the command), makes the loopback test CA that the
// Graph emulator's HTTPS certificate chains to, and runs every dist/test/**/*.test.js with Node's test runner
// (NODE_EXTRA_CA_CERTS makes child processes and fetch trust the CA). Arguments filter test files by substring.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BARESIP, CHROMIUM, EJABBERD, KAMAILIO, ensureOsPackages, PROSODY, REDIS, S2S_PACKAGES, SLIXMPP, MissingOsPackagesError } from '../dist/src/sandbox/os-deps.js';
import { ensureTlsMaterial } from '../dist/src/sandbox/tls.js';

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const tls = await ensureTlsMaterial(resolve('.test-tls'));
const filters = process.argv.slice(2);
const files = testFiles('dist/test')
  .sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  process.stderr.write('no test files matched\n');
  process.exit(1);
}
// ejabberd (with its Erlang runtime, ~45 packages) only for the files that start one (their names say ejabberd);
// lua-unbound for the S2S files (test/e2e/s2s-*); slixmpp for the files that drive it.
const needsEjabberd = files.some((f) => /ejabberd/.test(f));
// Chromium (about 90 packages) only for the console's browser tests: test/console/*, and the tenant selector's in
// test/e2e/tenants.test.ts.
const needsChromium = files.some((f) => /[\\/]console[\\/]|[\\/]e2e[\\/]tenants\./.test(f));
// Kamailio and baresip only for the SIP standards smoke test (issue 17): test/sfb/sip/kamailio-baresip.
const needsSipSmoke = files.some((f) => /kamailio/.test(f));
// Partner servers over S2S (issue 14) resolve each other through the test's own DNS responder (lua-unbound).
const needsS2s = files.some((f) => /[/]s2s-/.test(f));
const needsSlixmpp = files.some((f) => /slixmpp/.test(f));
try {
  ensureOsPackages([
    PROSODY,
    REDIS,
    ...(needsEjabberd ? [EJABBERD] : []),
    ...(needsChromium ? [CHROMIUM] : []),
    ...(needsSipSmoke ? [KAMAILIO, BARESIP] : []),
    ...(needsS2s ? S2S_PACKAGES : []),
    ...(needsSlixmpp ? [SLIXMPP] : []),
  ]);
} catch (err) {
  if (err instanceof MissingOsPackagesError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
// Two test files at a time (Node's default is one per core minus one, so 1 on the 2-core CI machine): most of an
// e2e file's time is spent waiting on servers and timers, not on the CPU, and every file picks its own free ports
// and temporary directories. XTG_TEST_CONCURRENCY=1 runs them one by one (to tell a load flake from a real race).
const concurrency = Math.max(1, Number.parseInt(process.env.XTG_TEST_CONCURRENCY ?? '2', 10) || 2);
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], {
  stdio: 'inherit',
  env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.caCertPath, XTG_TEST_TLS_DIR: resolve('.test-tls') },
});
// A watchdog: a test file that never ends (a server or socket left open holds its process) would otherwise run into
// CI's own time limit with nothing said. XTG_TEST_DEADLINE_MINUTES (default 30: the whole suite takes under 10 on
// CI's 2 cores) names the files still running, stops them and fails the run.
const deadlineMinutes = Number.parseFloat(process.env.XTG_TEST_DEADLINE_MINUTES ?? '30') || 30;
const watchdog = setTimeout(() => {
  const tree = descendants(child.pid);
  const running = [...new Set(tree.flatMap((p) => p.argv.filter((a) => a.endsWith('.test.js'))))];
  process.stderr.write(
    `\nthe test run passed ${deadlineMinutes} minutes (XTG_TEST_DEADLINE_MINUTES); still running:\n${running.map((f) => `  ${f}\n`).join('') || '  (no test file: the runner itself)\n'}` +
      'stopping them and their servers; a hang like this is a test that leaves a server, client or timer open.\n',
  );
  for (const p of [{ pid: child.pid }, ...tree]) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  process.exit(1);
}, deadlineMinutes * 60_000);
watchdog.unref();
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

/** Every process below `root` (Linux /proc), with its argv; empty where /proc is not there. */
function descendants(root) {
  let all;
  try {
    all = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          return [{ pid: Number(d), ppid, argv: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0') }];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift();
    for (const p of all) if (p.ppid === parent) (out.push(p), queue.push(p.pid));
  }
  return out;
}
