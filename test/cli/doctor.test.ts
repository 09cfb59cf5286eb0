/**
 * `xmpp-teams-gateway doctor`: against the Graph emulator set up as a ready tenant every check passes (exit 0);
 * then each precondition is broken in turn, and its line fails with its fix (exit 1). The CLI runs as a child
 * process, as an operator would run it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DEMO, DEMO_NORTHWIND } from '../../src/sandbox/demo-tenant.js';
import { writeLoopbackConfig } from '../../src/sandbox/gateway-config.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { startSfbPool } from '../../src/sandbox/sfb-pool.js';
import { puppetPassword, puppetUpn } from '../../src/protocol/puppet-identity.js';
import { demoTenantEmulatorOptions, demoTenantsEmulatorOptions } from '../emulators/graph/demo-tenant.js';
import { startGraphEmulator, type GraphEmulatorOptions } from '../emulators/graph/index.js';
import type { EmulatedTenantOptions, MultiTenantEmulatorOptions } from '../emulators/graph/types.js';
import { writeTestLicence } from '../support/test-licence.js';
import { freePorts } from '../support/ports.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
/** The same command as a test build, trusting the test licence key (test-node.ts). */
const TEST_NODE = fileURLToPath(new URL('../support/test-node.js', import.meta.url));
const JULIET = `juliet@${DEMO.xmppDomain}`;
const JULIET_UPN = puppetUpn(JULIET, DEMO.puppetDomain);

function runCli(args: string[], entry = MAIN): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The line of one check: PASS or FAIL, then its text. */
function line(stdout: string, name: string): string {
  const l = stdout.split('\n').find((x) => new RegExp(`^(PASS|FAIL)\\s+${name}\\s`, 'u').test(x));
  assert.ok(l, `a line for ${name} in:\n${stdout}`);
  return l;
}

describe('doctor', () => {
  let dir: string;
  let tls: { key: string; cert: string };

  before(async () => {
    const tlsDir = process.env.XTG_TEST_TLS_DIR;
    if (!tlsDir) throw new Error('XTG_TEST_TLS_DIR is not set');
    const m = await ensureTlsMaterial(tlsDir);
    tls = { key: m.key, cert: m.cert };
    dir = await mkdtemp(join(tmpdir(), 'xtg-doctor-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Makes a demo tenant ready: Juliet's account already in its licensed puppet group. */
  function ready<T extends EmulatedTenantOptions>(o: T, demo: { puppetDomain: string; puppetPasswordSecret: string; puppetGroup: { id: string } }): T {
    const upn = puppetUpn(JULIET, demo.puppetDomain);
    o.users.push({ userPrincipalName: upn, displayName: `${JULIET} (XMPP)`, password: puppetPassword(demo.puppetPasswordSecret, upn), licensed: false });
    o.groups = (o.groups ?? []).map((g) => (g.id === demo.puppetGroup.id ? { ...g, members: [upn] } : g));
    o.licenceAssignmentMs = 0;
    return o;
  }

  /** A ready tenant: the demo tenant with Juliet's account already in the licensed puppet group. */
  function readyTenant(): GraphEmulatorOptions {
    return ready(demoTenantEmulatorOptions({ tls }), DEMO);
  }

  /** Runs the doctor against an emulator started from `options`; `configure` changes the gateway config. */
  async function doctor(
    options: GraphEmulatorOptions | MultiTenantEmulatorOptions,
    configure: (c: Record<string, unknown>) => void = () => undefined,
    extraArgs: string[] = [],
    o: { twoTenants?: boolean; entry?: string } = {},
  ) {
    const em = await startGraphEmulator(options);
    try {
      const [component, webhook, admin] = (await freePorts(3)) as [number, number, number];
      const file = join(dir, `gw-${webhook}.yaml`);
      await writeLoopbackConfig(file, { componentPort: component, emulatorUrl: em.url, webhookPort: webhook, adminPort: admin, sqlitePath: join(dir, 'gw.sqlite'), transform: configure, ...(o.twoTenants ? { secondTenant: {} } : {}) });
      return await runCli(['doctor', '--config', file, ...extraArgs], o.entry);
    } finally {
      await em.close();
    }
  }

  it('passes every check on a ready tenant, one line each, and exits 0', async () => {
    const r = await doctor(readyTenant());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['app-token', 'app-permissions', 'clock', 'puppet-group', 'public-client', 'puppet-sign-in', 'delegated-permissions', 'puppet-domain', 'puppet-licence', 'webhook']) {
      assert.match(line(r.stdout, name), /^PASS/u);
    }
    assert.match(r.stdout, /all 10 checks passed/u);
  });

  const broken: [string, string, (o: GraphEmulatorOptions) => void, RegExp, ((c: Record<string, unknown>) => void)?][] = [
    ['a wrong client secret', 'app-token', (o) => ((o.apps[0] as { clientSecret?: string }).clientSecret = 'rotated'), /client secret or certificate/u],
    ['a missing application permission', 'app-permissions', (o) => (o.apps[0]!.applicationPermissions = ['User.ReadWrite.All', 'Presence.Read.All']), /GroupMember\.ReadWrite\.All.*grant admin consent/u],
    ['a forbidden application permission', 'app-permissions', (o) => o.apps[0]!.applicationPermissions.push('Chat.Read.All'), /Chat\.Read\.All/u],
    ['a delegated permission not consented', 'delegated-permissions', (o) => (o.apps[0]!.delegatedPermissions = o.apps[0]!.delegatedPermissions.filter((p) => p !== 'ChatMessage.Send')), /ChatMessage\.Send/u],
    ['public client flows off', 'public-client', (o) => (o.apps[0]!.allowPublicClient = false), /Allow public client flows/u],
    ['a federated puppet domain', 'puppet-domain', (o) => (o.federatedDomains = [DEMO.puppetDomain]), /managed \(cloud-only\)/u],
    ['an unlicensed puppet group', 'puppet-licence', (o) => (o.groups = (o.groups ?? []).map((g) => ({ ...g, licensed: false }))), /assign a licence with Microsoft Teams/u],
    ['a clock five minutes off', 'clock', (o) => (o.clockOffsetMs = 6 * 60_000), /synchronise the clock/u],
    ['a puppet group that does not exist', 'puppet-group', () => undefined, /teams\.puppets\.groupId/u, (c) => (((c.teams as Record<string, unknown>).puppets as Record<string, unknown>).groupId = '00000000-0000-4000-8000-000000000000')],
    ['a changed puppet password secret', 'puppet-sign-in', () => undefined, /passwordSecret/u, (c) => (((c.teams as Record<string, unknown>).puppets as Record<string, unknown>).passwordSecret = 'another-secret')],
    ['an unreachable webhook', 'webhook', () => undefined, /reachable/u, (c) => (((c.teams as Record<string, unknown>).webhook as Record<string, unknown>).publicUrl = 'http://127.0.0.1:9/graph/notifications')],
  ];
  for (const [what, check, breakIt, fix, configure] of broken) {
    it(`fails ${check} with its fix for ${what}, and exits 1`, async () => {
      const o = readyTenant();
      breakIt(o);
      const r = await doctor(o, configure);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const l = line(r.stdout, check);
      assert.match(l, /^FAIL/u);
      assert.match(l, fix);
    });
  }

  it('signs in as the XMPP user named with --puppet', async () => {
    const r = await doctor(readyTenant(), () => undefined, ['--puppet', JULIET]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(line(r.stdout, 'puppet-sign-in'), new RegExp(JULIET_UPN.replace(/[.]/gu, '\\.'), 'u'));
    const none = await doctor(readyTenant(), () => undefined, ['--puppet', `romeo@${DEMO.xmppDomain}`]);
    assert.equal(none.code, 1);
    assert.match(line(none.stdout, 'puppet-account'), /^FAIL.*write through the gateway once/u);
  });

  it('checks each tenant with its own credentials and the licence for each (issue 16); --tenant checks one', async () => {
    const both = () => {
      const o = demoTenantsEmulatorOptions({ tls });
      ready(o.tenants[0]!, DEMO);
      ready(o.tenants[1]!, DEMO_NORTHWIND);
      return o;
    };
    // A licence covering Contoso only, and Northwind's app secret rotated in its directory.
    const licence = await writeTestLicence(dir, { maxNodes: 1, id: 'L-contoso-only' });
    const withLicence = (c: Record<string, unknown>) => (c.cluster = { licence: { file: licence.file } });
    const broken = both();
    (broken.tenants[1]!.apps[0] as { clientSecret?: string }).clientSecret = 'rotated';
    const r = await doctor(broken, withLicence, [], { twoTenants: true, entry: TEST_NODE });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const [contoso, northwind] = r.stdout.split(/^tenant northwind /mu) as [string, string];
    assert.match(contoso, new RegExp(`^tenant contoso \\(Microsoft 365 tenant ${DEMO.tenantId}\\)`, 'mu'));
    assert.match(line(contoso, 'licence'), new RegExp(`^PASS.*covers Entra tenant ${DEMO.tenantId}`, 'u'));
    assert.match(line(contoso, 'app-token'), /^PASS/u);
    assert.match(contoso, /all 11 checks passed/u);
    assert.match(line(northwind, 'licence'), new RegExp(`^FAIL.*does not cover Entra tenant ${DEMO_NORTHWIND.tenantId}.*fix: ask the vendor`, 'u'));
    assert.match(line(northwind, 'app-token'), new RegExp(`^FAIL.*${DEMO_NORTHWIND.clientId}|^FAIL.*client secret`, 'u'));
    // One tenant alone: Contoso's checks pass, whatever Northwind's state.
    const one = await doctor(broken, withLicence, ['--tenant', 'contoso'], { twoTenants: true, entry: TEST_NODE });
    assert.equal(one.code, 0, one.stdout + one.stderr);
    assert.doesNotMatch(one.stdout, /northwind/u);
  });
});

describe('doctor for a deployment with Skype for Business Server only (issue 17)', () => {
  it('reaches the pool over mutual TLS and asks it OPTIONS; an untrusted pool certificate fails with its fix', async () => {
    const tlsDir = process.env.XTG_TEST_TLS_DIR;
    if (!tlsDir) throw new Error('XTG_TEST_TLS_DIR is not set');
    const material = await ensureTlsMaterial(tlsDir);
    const pool = await startSfbPool(material, {});
    const dir = await mkdtemp(join(tmpdir(), 'xtg-doctor-sfb-'));
    try {
      const [component, admin, webhook] = (await freePorts(3)) as [number, number, number];
      const write = async (path: string, trustedPeers?: string[]) =>
        writeLoopbackConfig(path, {
          componentPort: component,
          emulatorUrl: 'https://127.0.0.1:1',
          webhookPort: webhook,
          adminPort: admin,
          sqlitePath: join(dir, 'gateway.sqlite'),
          sfb: pool.gatewayConfig,
          transform: (c) => {
            delete c.teams;
            if (trustedPeers) (c.sfb as Record<string, unknown>).trustedPeers = trustedPeers;
          },
        });
      await write(join(dir, 'ok.yaml'));
      const ok = await runCli(['doctor', '--config', join(dir, 'ok.yaml')]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(line(ok.stdout, 'skype for business pool'), /^PASS .*answered OPTIONS for xmpp.example 200 over mutual TLS/u);
      assert.match(line(ok.stdout, 'microsoft 365'), /^PASS .*no Graph check/u);
      await write(join(dir, 'untrusted.yaml'), ['someone-else.example']);
      const bad = await runCli(['doctor', '--config', join(dir, 'untrusted.yaml')]);
      assert.equal(bad.code, 1);
      assert.match(line(bad.stdout, 'skype for business pool'), /^FAIL .*certificate naming no trusted host/u);
      assert.match(bad.stdout, /sfb\.trustedPeers/u, 'the fix names the setting');
    } finally {
      await pool.emulator.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
