/**
 * ejabberd, unlike Prosody, takes several XEP-0114 connections for one component domain and spreads the
 * stanzas for that domain over them: what lets every node of a gateway cluster hold its own link. A real
 * ejabberd (src/sandbox/ejabberd.ts) and a real client over STARTTLS; the component side is
 * @xmpp/component-core, as in src/xmpp/component-link.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Component } from '@xmpp/component-core';
import xml, { type Element } from '@xmpp/xml';
import { EjabberdServer } from '../../src/sandbox/ejabberd.js';
import { ProsodyServer } from '../../src/sandbox/prosody.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { eventually, testTlsDir } from '../support/federation.js';
import { freePorts } from '../support/ports.js';
import { TestXmppClient } from '../support/xmpp-client.js';

// The test certificate names localhost, and the client checks it against the domain it logs in to.
const VHOST = 'localhost';
const COMPONENT = 'teams.localhost';
const SECRET = 'component-secret';
const JULIET = { username: 'juliet', password: 'juliet-pw' };

interface Link {
  readonly name: string;
  readonly entity: Component;
  readonly received: Element[];
  readonly errors: Error[];
}

/** Opens a component connection and waits for the handshake to succeed (or rejects with the stream error). */
async function openLink(name: string, port: number, domain = COMPONENT, secret = SECRET): Promise<Link> {
  const entity = new Component({ service: `xmpp://127.0.0.1:${port}`, domain });
  const link: Link = { name, entity, received: [], errors: [] };
  entity.on('stanza', (el: Element) => link.received.push(el));
  const online = new Promise<void>((resolve, reject) => {
    entity.on('online', () => resolve());
    entity.on('error', (err: Error) => {
      link.errors.push(err);
      reject(err);
    });
    setTimeout(() => reject(new Error(`component link ${name} not online after 10 s`)), 10_000).unref();
  });
  entity.on('open', (el: Element) => {
    entity.authenticate(el.attrs.id ?? '', secret).catch((err: unknown) => entity.emit('error', err));
  });
  await entity.start().catch(() => undefined); // a refusal shows up as the 'error' above
  await online;
  return link;
}

async function closeLink(link: Link | undefined): Promise<void> {
  await link?.entity.stop().catch(() => undefined);
}

const messages = (l: Link) => l.received.filter((el) => el.name === 'message' && el.attrs.id?.startsWith('m-'));

describe('ejabberd: several component connections for one domain', { timeout: 60_000 }, () => {
  let dir: string;
  let server: EjabberdServer;
  let a: Link;
  let b: Link;
  let juliet: TestXmppClient;

  before(async () => {
    const tls = await ensureTlsMaterial(testTlsDir());
    dir = await mkdtemp(join(tmpdir(), 'xtg-ejabberd-'));
    const [c2sPort, componentPort] = (await freePorts(2)) as [number, number];
    server = await EjabberdServer.start({
      dir,
      vhost: VHOST,
      components: [{ domain: COMPONENT, secret: SECRET }],
      c2sPort,
      componentPort,
      users: [JULIET],
      tls: { key: tls.key, cert: tls.cert },
    });
  });
  after(async () => {
    await juliet?.stop();
    await closeLink(a);
    await closeLink(b);
    const node = server?.node;
    await server?.stop();
    if (node) {
      // No Erlang VM of this instance (nor a ctl node of it) is left; epmd may stay, it is shared.
      const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
      assert.deepEqual(
        ps.split('\n').filter((l) => l.includes(node) || (l.includes('beam') && l.includes(dir))),
        [],
        'Erlang processes left behind',
      );
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts two connections for the same component domain', async () => {
    a = await openLink('a', server.o.componentPort);
    b = await openLink('b', server.o.componentPort);
    assert.equal(a.entity.status, 'online');
    assert.equal(b.entity.status, 'online');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });

  it('registered the user, who logs in over STARTTLS', async () => {
    juliet = await TestXmppClient.connect({ port: server.o.c2sPort, domain: VHOST, user: JULIET.username, password: JULIET.password });
    assert.match(juliet.jid, /^juliet@localhost\//);
    const info = await server.ctl(['connected_users_info']);
    assert.equal(info.code, 0, info.output);
    assert.match(info.output, /c2s_tls/, `juliet's session is not TLS: ${info.output}`);
  });

  it('spreads the stanzas for the domain over both connections, each delivered once', async () => {
    const n = 20;
    for (let i = 0; i < n; i++) {
      await juliet.send(xml('message', { to: `user${i}@${COMPONENT}`, type: 'chat', id: `m-${i}` }, xml('body', {}, `hello ${i}`)));
    }
    await eventually(() => (messages(a).length + messages(b).length >= n ? true : undefined), 10_000, `${n} messages over both links`);
    await new Promise((r) => setTimeout(r, 300)); // nothing more (no duplicates) arrives
    const ids = [...messages(a), ...messages(b)].map((el) => el.attrs.id).sort();
    assert.deepEqual(ids, Array.from({ length: n }, (_, i) => `m-${i}`).sort());
    assert.ok(messages(a).length > 0 && messages(b).length > 0, `a got ${messages(a).length}, b got ${messages(b).length}`);
    for (const el of [...messages(a), ...messages(b)]) assert.equal(el.attrs.from, juliet.jid);
  });

  it('delivers what either connection sends', async () => {
    for (const link of [a, b]) {
      const id = `out-${link.name}`;
      await link.entity.send(xml('message', { from: `alice@${COMPONENT}`, to: juliet.jid, type: 'chat', id }, xml('body', {}, `from link ${link.name}`)));
      const got = await juliet.waitFor((el) => el.name === 'message' && el.attrs.id === id, 10_000, `message from link ${link.name}`);
      assert.equal(got.attrs.from, `alice@${COMPONENT}`);
      assert.equal(got.getChildText('body'), `from link ${link.name}`);
    }
  });

  it('keeps routing to the connection that stays when the other one closes', async () => {
    await closeLink(b);
    const before = messages(a).length;
    // The route of the closed link goes when its process ends; give the router a moment.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 5; i++) {
      await juliet.send(xml('message', { to: `user${i}@${COMPONENT}`, type: 'chat', id: `m-after-${i}` }, xml('body', {}, `again ${i}`)));
    }
    await eventually(() => (messages(a).length - before >= 5 ? true : undefined), 10_000, 'the 5 messages on the remaining link');
  });
});

describe('Prosody, for comparison: one connection per component domain', { timeout: 30_000 }, () => {
  it('refuses a second connection for the same domain with a conflict', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xtg-prosody-'));
    const [c2sPort, componentPort] = (await freePorts(2)) as [number, number];
    const prosody = await ProsodyServer.start({ dir, vhost: VHOST, components: [{ domain: COMPONENT, secret: SECRET }], c2sPort, componentPort, users: [] });
    let first: Link | undefined;
    try {
      first = await openLink('first', componentPort);
      await assert.rejects(openLink('second', componentPort), (err: Error & { condition?: string }) => {
        assert.equal(err.condition, 'conflict', String(err));
        return true;
      });
      assert.equal(first.entity.status, 'online');
    } finally {
      await closeLink(first);
      await prosody.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
