/** The loopback DNS responder answers as a resolver expects (Node's c-ares resolver stands in for the servers'). */
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import { LoopbackDns } from '../../src/sandbox/dns.js';

describe('LoopbackDns', () => {
  let dns: LoopbackDns;
  let resolver: Resolver;
  before(async () => {
    dns = await LoopbackDns.start(0);
    dns.setXmppServer('partner.example', 25269);
    dns.setA('xmpp.partner.example', ['127.0.0.7']);
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  });
  after(async () => {
    await dns.stop();
  });

  it('serves _xmpp-server._tcp SRV records pointing at localhost', async () => {
    assert.deepEqual(await resolver.resolveSrv('_xmpp-server._tcp.partner.example'), [{ name: 'localhost', port: 25269, priority: 0, weight: 0 }]);
    assert.deepEqual(await resolver.resolveSrv('_XMPP-Server._tcp.Partner.Example'), [{ name: 'localhost', port: 25269, priority: 0, weight: 0 }]);
  });

  it('serves A records', async () => {
    assert.deepEqual(await resolver.resolve4('xmpp.partner.example'), ['127.0.0.7']);
  });

  it('answers NXDOMAIN for names it does not hold, and no data for another type of a name it holds', async () => {
    await assert.rejects(resolver.resolveSrv('_xmpps-server._tcp.partner.example'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('example.com'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('_xmpp-server._tcp.partner.example'), { code: 'ENODATA' });
  });

  it('forgets a removed record', async () => {
    dns.remove('xmpp.partner.example');
    await assert.rejects(resolver.resolve4('xmpp.partner.example'), { code: 'ENOTFOUND' });
  });
});
