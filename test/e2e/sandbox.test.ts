/**
 * The README's first command: `sandbox` brings up the gateway's Prosody, a partner's Prosody federated with it
 * over S2S, the Graph emulator with two tenants and a gateway node serving both (issue 16), prints how to use them,
 * works as printed (in each tenant), and stops cleanly on Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { portOpen } from '../../src/sandbox/port-open.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { freePorts } from '../support/ports.js';
import { TestXmppClient } from '../support/xmpp-client.js';
import { eventually } from '../support/federation.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const TEAMS_CLI = fileURLToPath(new URL('../emulators/graph/teams-cli.js', import.meta.url));
const SFB_CLI = fileURLToPath(new URL('../emulators/sfb/sfb-cli.js', import.meta.url));

const listening = (port: number) => portOpen(port);

describe('npm run sandbox', { timeout: 120_000 }, () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a complete federation on loopback that works as its printout says, and stops on SIGINT', async () => {
    dir = await mkdtemp(join(tmpdir(), 'xtg-sandbox-'));
    const [c2s, component, partnerC2s, emulator, webhook, admin, sfbPort, sfbPool, sfbControl, sfbPhotos] = (await freePorts(10)) as [number, number, number, number, number, number, number, number, number, number];
    const child = spawn(
      process.execPath,
      [
        MAIN, 'sandbox', '--dir', dir, '--c2s-port', String(c2s), '--component-port', String(component), '--partner-c2s-port', String(partnerC2s),
        '--emulator-port', String(emulator), '--webhook-port', String(webhook), '--admin-port', String(admin),
        '--sfb-port', String(sfbPort), '--sfb-pool-port', String(sfbPool), '--sfb-control-port', String(sfbControl), '--sfb-photos-port', String(sfbPhotos),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await eventually(() => (out.includes('The sandbox federation is up') ? true : undefined), 60_000, `sandbox start; output so far:\n${out}`);
      assert.match(out, /juliet@xmpp\.example +password juliet-pass/u);
      assert.match(out, /benvolio@partner\.example +password benvolio-pass/u);
      assert.match(out, /alice\.smith@teams\.xmpp\.example/u);
      assert.match(out, /grace\.hopper@teams\.northwind\.example/u);
      assert.match(out, /--tenant northwind\.example send grace\.hopper@northwind\.example juliet@xmpp\.example/u);
      assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${admin}/metrics`, 'u'));
      // Without a licence the node runs in evaluation mode, and says so (issue 12, docs/licensing.md).
      assert.match(out, /evaluation mode \(no licence\): one node, at most 2 remote domains and 10 XMPP users/u);
      const ready = (await (await fetch(`http://127.0.0.1:${admin}/readyz`)).json()) as { licence?: { mode?: string; limits?: Record<string, number> } };
      assert.deepEqual(ready.licence?.mode, 'evaluation');
      assert.deepEqual(ready.licence?.limits, { nodes: 1, remoteDomains: 2, accounts: 10 });

      // Log in as printed and write to Alice.
      const juliet = await TestXmppClient.connect({ port: c2s, domain: 'xmpp.example', user: 'juliet', password: 'juliet-pass' });
      await juliet.sendPresence();
      await juliet.send(xml('message', { to: 'alice.smith@teams.xmpp.example', type: 'chat', id: 's1' }, xml('body', {}, 'hello from the sandbox test')));

      // Act as Alice with the CLI exactly as printed (trusting the sandbox CA through NODE_EXTRA_CA_CERTS).
      const cliEnv = { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'tls', 'ca.pem') };
      const cli = (...args: string[]) => spawnSync(process.execPath, [TEAMS_CLI, '--emulator', `https://127.0.0.1:${emulator}`, ...args], { encoding: 'utf8', env: cliEnv });
      const chats = await eventually(() => {
        const r = cli('chats', 'alice.smith@contoso.example');
        return r.stdout.includes('hello from the sandbox test') ? r : undefined;
      }, 20_000, 'the message in Alice\'s chats');
      assert.equal(chats.status, 0, chats.stderr);
      const sent = cli('send', 'alice.smith@contoso.example', 'juliet@xmpp.example', 'Hi Juliet, from the CLI');
      assert.equal(sent.status, 0, sent.stderr);
      await juliet.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'Hi Juliet, from the CLI', 20_000, 'reply sent with the CLI');
      // The second tenant (Northwind, its own component domain), and the CLI acting in it with --tenant as printed.
      await juliet.send(xml('message', { to: 'grace.hopper@teams.northwind.example', type: 'chat', id: 'n1' }, xml('body', {}, 'hello Northwind')));
      await eventually(() => (cli('--tenant', 'northwind.example', 'chats', 'grace.hopper@northwind.example').stdout.includes('hello Northwind') ? true : undefined), 20_000, 'the message in Grace\'s chats');
      assert.doesNotMatch(cli('chats', 'alice.smith@contoso.example').stdout, /hello Northwind/u, 'nothing of it in Contoso');
      const fromNorthwind = cli('--tenant', 'northwind.example', 'send', 'grace.hopper@northwind.example', 'juliet@xmpp.example', 'Hi Juliet, from Northwind');
      assert.equal(fromNorthwind.status, 0, fromNorthwind.stderr);
      await juliet.waitFor((el) => el.name === 'message' && el.attrs.from?.startsWith('grace.hopper@teams.northwind.example') === true && el.getChildText('body') === 'Hi Juliet, from Northwind', 20_000, 'Grace\'s reply');
      // Issue 17: an SfB user, acted as with the sfb-cli as printed.
      assert.match(out, /carol@teams\.xmpp\.example/u);
      const sfbCli = (...args: string[]) => spawnSync(process.execPath, [SFB_CLI, '--emulator', `http://127.0.0.1:${sfbControl}`, ...args], { encoding: 'utf8' });
      const fromSfb = sfbCli('send', 'carol', 'juliet@xmpp.example', 'Hi Juliet, from SfB');
      assert.equal(fromSfb.status, 0, fromSfb.stderr);
      await juliet.waitFor((el) => el.name === 'message' && el.attrs.from?.startsWith('carol@teams.xmpp.example') === true && el.getChildText('body') === 'Hi Juliet, from SfB', 20_000, 'SfB message');
      await juliet.send(xml('message', { to: 'carol@teams.xmpp.example', type: 'chat', id: 's2' }, xml('body', {}, 'Hi Carol')));
      await eventually(() => (sfbCli('inbox', 'carol').stdout.includes('Hi Carol') ? true : undefined), 20_000, 'the reply in Carol\'s inbox');
      assert.equal(await listening(sfbPhotos), true, "the node serves XMPP users' photos to SfB clients (sfb.photos.listen)");
      await juliet.stop();

      // The partner's user, on the other server, reaches Alice across S2S and gets her answer back the same way.
      const benvolio = await TestXmppClient.connect({ port: partnerC2s, domain: 'partner.example', user: 'benvolio', password: 'benvolio-pass' });
      await benvolio.sendPresence();
      await benvolio.send(xml('message', { to: 'alice.smith@teams.xmpp.example', type: 'chat', id: 's2' }, xml('body', {}, 'hello across two servers')));
      await eventually(() => (cli('chats', 'alice.smith@contoso.example').stdout.includes('hello across two servers') ? true : undefined), 30_000, 'the partner message in Alice\'s chats');
      assert.equal(cli('send', 'alice.smith@contoso.example', 'benvolio@partner.example', 'Hi Benvolio').status, 0);
      await benvolio.waitFor((el) => el.name === 'message' && el.getChildText('body') === 'Hi Benvolio', 30_000, 'reply to the partner user');
      await benvolio.stop();
    } finally {
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, out);
    }
    // Everything it started is gone.
    for (const port of [c2s, component, partnerC2s, emulator, webhook, admin, sfbPort, sfbPool, sfbControl, sfbPhotos]) assert.equal(await listening(port), false, `port ${port} still open`);
  });
});
