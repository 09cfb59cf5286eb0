/**
 * The SfB emulator behaves as [MS-SIP], [MS-SIPRE], [MS-PRES] and SfB traces document the Front End (each case is
 * pinned in docs/sfb-conformance.md). A bare trusted application built from the project's SIP stack plays the
 * gateway, so these tests check the emulator, not the gateway.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSfbEmulator, type SfbEmulator } from './sfb/index.js';
import { SipEndpoint, type IncomingRequest } from '../../src/sfb/sip/endpoint.js';
import { SipTlsTransport, nameMatches } from '../../src/sfb/sip/transport.js';
import { header, headerValues, type SipRequest, type SipResponse } from '../../src/sfb/sip/message.js';
import { newCallId, newTag } from '../../src/sfb/sip/build.js';
import { inDialogRequest, uacDialog, uasDialog, type DialogState } from '../../src/sfb/sip/dialog.js';
import { parseNameAddr, parseVia } from '../../src/sfb/sip/address.js';
import { loopbackHosts, testIdentity, waitFor } from '../sfb/support.js';
import { freePort } from '../support/ports.js';

const FE = 'fe01.contoso.example';
const APP = 'gw.xmpp.example';
const hosts = loopbackHosts(FE, APP, 'rogue.example');

class TrustedApp {
  readonly requests: IncomingRequest[] = [];
  handler: (i: IncomingRequest) => void = (i) => this.answer(i);
  constructor(
    readonly transport: SipTlsTransport,
    readonly endpoint: SipEndpoint,
    private readonly fePort: number,
  ) {
    endpoint.onRequest = (i) => {
      this.requests.push(i);
      this.handler(i);
    };
  }
  static async start(name: string, fePort: number, port = 0): Promise<TrustedApp> {
    const transport = new SipTlsTransport({ identity: await testIdentity(name), listen: { host: '127.0.0.1', port }, trusted: (n) => n.some((x) => nameMatches(x, FE)), hosts, keepAliveMs: 0 });
    await transport.start();
    return new TrustedApp(transport, new SipEndpoint({ transport, host: name, port: transport.port, outboundProxy: { host: FE, port: fePort } }), fePort);
  }
  contact(user = 'juliet'): { name: string; value: string } {
    return { name: 'Contact', value: `<sip:${user}@${APP}:${this.transport.port};transport=tls>` };
  }
  /** A UAS that copies Record-Route verbatim into its 2xx, as RFC 3261 §12.1.1 requires. */
  answer(i: IncomingRequest, status = 200): void {
    if (i.request.method === 'BENOTIFY' || i.request.method === 'ACK') return;
    i.respond(status, { toTag: newTag(), headers: [...headerValues(i.request, 'Record-Route').map((value) => ({ name: 'Record-Route', value })), this.contact()] });
  }
  request(method: string, to: string, extra: { name: string; value: string }[] = [], body = Buffer.alloc(0), from = 'sip:juliet@xmpp.example'): SipRequest {
    return {
      kind: 'request',
      method,
      uri: to,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${from}>;tag=${newTag()}` },
        { name: 'To', value: `<${to}>` },
        { name: 'Call-ID', value: newCallId() },
        { name: 'CSeq', value: `1 ${method}` },
        this.contact(),
        ...extra,
      ],
      body,
    };
  }
  imInvite(to: string): SipRequest {
    return this.request('INVITE', to, [{ name: 'Content-Type', value: 'application/sdp' }], Buffer.from('v=0\r\nm=message 5060 sip null\r\n'));
  }
  send(req: SipRequest): Promise<SipResponse> {
    return this.endpoint.request(req, { hop: { host: FE, port: this.fePort } });
  }
  async stop(): Promise<void> {
    await this.transport.stop();
  }
}

describe('SfB emulator conformance', () => {
  let emu: SfbEmulator;
  let app: TrustedApp;
  before(async () => {
    const appPort = await freePort();
    emu = await startSfbEmulator({ fqdn: FE, identity: await testIdentity(FE, 'pool01.contoso.example'), trustedApplications: [APP], routes: [{ domain: 'xmpp.example', host: APP, port: appPort }], hosts, idleByeMs: 60_000, homedOnline: ['sip:alice.smith@contoso.example'] });
    app = await TrustedApp.start(APP, emu.sipPort, appPort);
  });
  after(async () => {
    await app.stop();
    await emu.close();
  });

  it('refuses a trusted application whose certificate names a host it does not know', async () => {
    const rogue = await TrustedApp.start('rogue.example', emu.sipPort);
    try {
      const res = await rogue.send(rogue.imInvite('sip:carol@contoso.example'));
      assert.equal(res.status, 503, 'the Front End drops the connection after the handshake');
    } finally {
      await rogue.stop();
    }
  });

  it('a presence fetch (Expires: 0): the home pool answers with its Contact and the state piggy-backed; a user moved online is routed on (200 from the hosting provider); an unknown one gets 404 4005', async () => {
    const fetchOf = (to: string) =>
      app.send(app.request('SUBSCRIBE', to, [{ name: 'Event', value: 'presence' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml' }, { name: 'Supported', value: 'ms-piggyback-first-notify' }, { name: 'Expires', value: '0' }]));
    const home = await fetchOf('sip:carol@contoso.example');
    assert.equal(home.status, 200);
    assert.match(header(home, 'Contact') ?? '', /^<sip:fe01\.contoso\.example:\d+;transport=tls>$/u);
    assert.match(home.body.toString(), /<availability>\d+<\/availability>/u);
    const online = await fetchOf('sip:alice.smith@contoso.example');
    assert.equal(online.status, 200, 'not a 404: the pool routes her requests to Microsoft 365');
    assert.match(header(online, 'Contact') ?? '', /^<sip:sipfed\.online\.lync\.com[:;>]/u);
    const unknown = await fetchOf('sip:nobody@contoso.example');
    assert.equal(unknown.status, 404);
    assert.match(header(unknown, 'ms-diagnostics') ?? '', /^4005;/u);
    assert.equal(emu.frontEnd.presence.activeSubscriptions().length, 0, 'a fetch keeps no subscription');
  });

  it('faults armed by the control API: the next SUBSCRIBE gets 503, or no answer at all', async () => {
    const arm = (subscribe: unknown) => fetch(`${emu.controlUrl}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ subscribe, count: 1 }) });
    const sub = () => app.request('SUBSCRIBE', 'sip:carol@contoso.example', [{ name: 'Event', value: 'presence' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml' }, { name: 'Expires', value: '0' }]);
    await arm(503);
    assert.equal((await app.send(sub())).status, 503);
    assert.equal((await app.send(sub())).status, 200, 'one fault only');
    await arm('silent');
    const silent = await Promise.race([app.send(sub()).then((r) => r.status), new Promise((r) => setTimeout(() => r('no answer'), 500))]);
    assert.equal(silent, 'no answer');
  });

  it('delivers by static route: Record-Route with ms-route-sig, epid, GRUU, ms-received-*, first message in ms-text-format', async () => {
    app.requests.length = 0;
    const sent = fetch(`${emu.controlUrl}/_emulator/users/carol/messages`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example', text: 'Hello from SfB 👋' }) });
    const inv = await waitFor(() => app.requests.find((r) => r.request.method === 'INVITE'));
    const req = inv.request;
    assert.equal(req.uri, 'sip:juliet@xmpp.example');
    const rr = headerValues(req, 'Record-Route')[0] ?? '';
    assert.match(rr, /^<sip:fe01\.contoso\.example:\d+;transport=tls;opaque=state:[^>]*;lr;ms-route-sig=[\w-]+>;tag=/u);
    assert.match(header(req, 'From') ?? '', /;epid=[0-9a-f]+/u);
    assert.match(parseNameAddr(headerValues(req, 'Contact')[0] ?? '').uri, /;opaque=user:epid:[^;]+;gruu$/u);
    const vias = headerValues(req, 'Via').map(parseVia);
    assert.equal(vias[0]?.host, FE);
    assert.ok(vias[1]?.params.has('ms-received-port') && vias[1]?.params.has('ms-received-cid'));
    const b64 = /ms-body=([^;\s]+)/u.exec(header(req, 'ms-text-format') ?? '')?.[1] ?? '';
    assert.equal(Buffer.from(b64, 'base64').toString('utf8'), 'Hello from SfB 👋');
    assert.match(req.body.toString(), /^m=message \d+ sip /mu);
    assert.equal(((await (await sent).json()) as { status: number }).status, 200);
    assert.deepEqual(await (await fetch(`${emu.controlUrl}/_emulator/violations`)).json(), []);
  });

  it('checks the Route of later requests: verbatim gets through, an altered one gets 403 with ms-diagnostics', async () => {
    const res = await app.send(app.imInvite('sip:carol@contoso.example'));
    assert.equal(res.status, 200);
    const rr = headerValues(res, 'Record-Route');
    assert.equal(rr.length, 1);
    const d = uacDialog(app.imInvite('sip:carol@contoso.example'), res);
    const dialog: DialogState = { ...d, callId: header(res, 'Call-ID') ?? '', localTag: /tag=([^;]+)/u.exec(header(res, 'From') ?? '')?.[1] ?? '' };
    const msg = (dd: DialogState, type: string, body: string) => inDialogRequest(dd, 'MESSAGE', { headers: [{ name: 'Content-Type', value: type }], body: Buffer.from(body) });
    let next = msg(dialog, 'text/plain; charset=UTF-8', 'plain text');
    assert.equal((await app.endpoint.request(next.request)).status, 200);
    next = msg(next.dialog, 'text/html', '<b>html</b>');
    assert.equal((await app.endpoint.request(next.request)).status, 200);
    next = msg(next.dialog, 'multipart/alternative; boundary=x', '--x\r\nContent-Type: text/plain\r\n\r\nmulti\r\n--x--\r\n');
    assert.equal((await app.endpoint.request(next.request)).status, 200);
    next = msg(next.dialog, 'text/rtf', '{\\rtf1 x}');
    const unsupported = await app.endpoint.request(next.request);
    assert.equal(unsupported.status, 415);
    const forged = msg({ ...next.dialog, routeSet: [(rr[0] ?? '').replace(/ms-route-sig=[\w-]+/u, 'ms-route-sig=forged')] }, 'text/plain', 'x');
    const refused = await app.endpoint.request(forged.request, { hop: { host: FE, port: emu.sipPort } });
    assert.equal(refused.status, 403);
    assert.match(header(refused, 'ms-diagnostics') ?? '', /^1018;reason=/u);
    const inbox = emu.user('carol').inbox.filter((m) => m.kind === 'message').map((m) => m.text);
    assert.deepEqual(inbox.slice(-3), ['plain text', '<b>html</b>', '--x\r\nContent-Type: text/plain\r\n\r\nmulti\r\n--x--\r\n']);
  });

  it('forks to every device: the first 200 wins after its delay; two devices answering at once give two 200s', async () => {
    const dan = emu.user('dan');
    (dan.devices[0] as { answerDelayMs: number }).answerDelayMs = 300;
    (dan.devices[1] as { answerDelayMs: number }).answerDelayMs = 50;
    const started = Date.now();
    const res = await app.send(app.imInvite('sip:dan@contoso.example'));
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started >= 50, 'the 200 waited for a device');
    assert.equal(parseNameAddr(headerValues(res, 'Contact')[0] ?? '').uri, dan.devices[1]?.gruu);
    for (const d of dan.devices) d.answerDelayMs = 0;
    const extra: SipResponse[] = [];
    const both = await app.endpoint.request(app.imInvite('sip:dan@contoso.example'), { hop: { host: FE, port: emu.sipPort }, onExtraSuccess: (r) => extra.push(r) });
    assert.equal(both.status, 200);
    await waitFor(() => (extra.length ? true : undefined), 3_000, 'a second 200');
    assert.notEqual(header(extra[0] as SipResponse, 'To'), header(both, 'To'));
  });

  const failures: [string, string, (emu: SfbEmulator) => void, number, RegExp][] = [
    ['an unknown user', 'sip:nobody@contoso.example', () => undefined, 404, /^4005;/u],
    ['a signed-out user', 'sip:erin@contoso.example', () => undefined, 480, /^15010;/u],
    ['a busy user', 'sip:carol@contoso.example', (e) => e.user('carol').devices.forEach((d) => (d.answer = 'busy')), 486, /^15002;/u],
    ['a declining user', 'sip:carol@contoso.example', (e) => e.user('carol').devices.forEach((d) => (d.answer = 'decline')), 603, /^15003;/u],
  ];
  for (const [what, to, setup, status, diag] of failures) {
    it(`answers ${what} with ${status} and ms-diagnostics`, async () => {
      setup(emu);
      try {
        const res = await app.send(app.imInvite(to));
        assert.equal(res.status, status);
        assert.match(header(res, 'ms-diagnostics') ?? '', diag);
      } finally {
        emu.user('carol').devices.forEach((d) => (d.answer = 'auto'));
      }
    });
  }

  it('refuses page-mode MESSAGE, non-IM media, and a From domain not routed to the application', async () => {
    assert.equal((await app.send(app.request('MESSAGE', 'sip:carol@contoso.example', [{ name: 'Content-Type', value: 'text/plain' }], Buffer.from('x')))).status, 403);
    const audio = app.request('INVITE', 'sip:carol@contoso.example', [{ name: 'Content-Type', value: 'application/sdp' }], Buffer.from('v=0\r\nm=audio 5004 RTP/AVP 0\r\n'));
    assert.equal((await app.send(audio)).status, 488);
    const spoof = app.imInvite('sip:carol@contoso.example');
    const spoofed = { ...spoof, headers: spoof.headers.map((h) => (h.name === 'From' ? { ...h, value: `<sip:mallory@contoso.example>;tag=${newTag()}` } : h)) };
    assert.equal((await app.send(spoofed)).status, 403);
  });

  it('relays typing in both forms, and invites to conferences with ms-conf-invite', async () => {
    app.requests.length = 0;
    const post = (path: string, body: unknown) => fetch(`${emu.controlUrl}/_emulator/users/carol/${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json() as Promise<{ status: number }>);
    assert.equal((await post('messages', { to: 'romeo@xmpp.example', text: 'hi' })).status, 200);
    assert.equal((await post('typing', { to: 'romeo@xmpp.example' })).status, 200);
    const typing = await waitFor(() => app.requests.find((r) => (header(r.request, 'Content-Type') ?? '').startsWith('application/im-iscomposing+xml')));
    assert.match(typing.request.body.toString(), /<state>active<\/state>/u);
    emu.user('carol').devices.forEach((d) => (d.typingForm = 'info'));
    assert.equal((await post('typing', { to: 'romeo@xmpp.example' })).status, 200);
    const info = await waitFor(() => app.requests.find((r) => r.request.method === 'INFO'));
    assert.match(info.request.body.toString(), /<KeyboardActivity><status status="type"\/><\/KeyboardActivity>/u);
    app.handler = (i) => (i.request.method === 'INVITE' && (header(i.request, 'Content-Type') ?? '').includes('ms-conf-invite') ? app.answer(i, 415) : app.answer(i));
    assert.equal((await post('conference', { to: 'romeo@xmpp.example' })).status, 415);
    const conf = app.requests.find((r) => (header(r.request, 'Content-Type') ?? '').includes('ms-conf-invite'));
    assert.match(conf?.request.body.toString() ?? '', /<focus-uri>sip:carol@contoso\.example;gruu;opaque=app:conf:focus:id:/u);
    app.handler = (i) => app.answer(i);
  });

  it('ends an idle IM session with BYE', async () => {
    const quick = await startSfbEmulator({ fqdn: FE, identity: await testIdentity(FE, 'pool01.contoso.example'), trustedApplications: [APP], routes: [{ domain: 'xmpp.example', host: APP, port: app.transport.port }], hosts, idleByeMs: 300 });
    const local = await TrustedApp.start(APP, quick.sipPort);
    try {
      const res = await local.send(local.imInvite('sip:carol@contoso.example'));
      assert.equal(res.status, 200);
      const bye = await waitFor(() => local.requests.find((r) => r.request.method === 'BYE' && header(r.request, 'Call-ID') === header(res, 'Call-ID')), 5_000, 'BYE on idle');
      assert.ok(bye);
    } finally {
      await local.stop();
      await quick.close();
    }
  });

  it('presence: piggy-backed first NOTIFY of the External container, BENOTIFY on change, refresh, Expires: 0', async () => {
    const carol = emu.user('carol');
    carol.presence.note = 'company only';
    carol.presence.noteContainers = [200, 300];
    app.requests.length = 0;
    const sub = app.request('SUBSCRIBE', 'sip:carol@contoso.example', [
      { name: 'Event', value: 'presence' },
      { name: 'Accept', value: 'application/msrtc-event-categories+xml' },
      { name: 'Supported', value: 'ms-benotify, ms-piggyback-first-notify' },
      { name: 'Expires', value: '7200' },
    ]);
    const res = await app.send(sub);
    assert.equal(res.status, 200);
    assert.equal(header(res, 'Expires'), '3600', 'capped by the pool');
    const body = res.body.toString();
    assert.match(body, /<availability>3500<\/availability>/u);
    assert.doesNotMatch(body, /company only/u, 'a Company-only note stays in the pool');
    assert.doesNotMatch(body, /555/u, 'no phone numbers for a federated watcher');
    assert.ok([...body.matchAll(/container="(\d+)"/gu)].every((m) => m[1] === '100'));
    await fetch(`${emu.controlUrl}/_emulator/users/carol/presence`, { method: 'POST', body: JSON.stringify({ script: [{ afterMs: 10, availability: 6500, activity: 'in-a-meeting', note: 'back at 3', noteContainers: [100] }] }) });
    const be = await waitFor(() => app.requests.find((r) => r.request.method === 'BENOTIFY'), 5_000, 'BENOTIFY');
    assert.match(be.request.body.toString(), /<availability>6500<\/availability><activity token="in-a-meeting"\/>/u);
    assert.match(be.request.body.toString(), /back at 3/u);
    const d = uacDialog(sub, res);
    const refresh = inDialogRequest(d, 'SUBSCRIBE', { headers: [{ name: 'Event', value: 'presence' }, { name: 'Expires', value: '600' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml' }] });
    const r2 = await app.endpoint.request(refresh.request);
    assert.equal(r2.status, 200);
    assert.equal(header(r2, 'Expires'), '600');
    const unsub = inDialogRequest(refresh.dialog, 'SUBSCRIBE', { headers: [{ name: 'Event', value: 'presence' }, { name: 'Expires', value: '0' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml' }] });
    assert.equal((await app.endpoint.request(unsub.request)).status, 200);
    const final = await waitFor(() => app.requests.find((r) => r.request.method === 'NOTIFY' && /terminated/u.test(header(r.request, 'subscription-state') ?? '')));
    assert.ok(final);
  });

  it('presence without ms-benotify gets NOTIFY; a batch SUBSCRIBE is answered with resubscribe', async () => {
    app.requests.length = 0;
    const sub = app.request('SUBSCRIBE', 'sip:dan@contoso.example', [{ name: 'Event', value: 'presence' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml' }]);
    const res = await app.send(sub);
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0, 'no piggy-back without ms-piggyback-first-notify');
    await waitFor(() => app.requests.find((r) => r.request.method === 'NOTIFY'), 5_000, 'first NOTIFY');
    const batch = app.request(
      'SUBSCRIBE',
      'sip:juliet@xmpp.example',
      [{ name: 'Event', value: 'presence' }, { name: 'Require', value: 'adhoclist, categoryList' }, { name: 'Accept', value: 'application/msrtc-event-categories+xml, application/rlmi+xml, multipart/related' }, { name: 'Content-Type', value: 'application/msrtc-adrl-categorylist+xml' }],
      Buffer.from('<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="sip:juliet@xmpp.example"><action name="subscribe" id="1"><adhocList><resource uri="sip:carol@contoso.example"/><resource uri="sip:dan@contoso.example"/></adhocList></action></batchSub>'),
    );
    const r = await app.send(batch);
    assert.equal(r.status, 200);
    assert.equal([...r.body.toString().matchAll(/state="terminated" reason="deactivated"/gu)].length, 2);
  });

  it('an SfB user subscribes to an XMPP user singly, with piggy-back and BENOTIFY offered', async () => {
    app.requests.length = 0;
    app.handler = (i) => {
      if (i.request.method !== 'SUBSCRIBE') return app.answer(i);
      i.respond(200, {
        toTag: newTag(),
        headers: [...headerValues(i.request, 'Record-Route').map((value) => ({ name: 'Record-Route', value })), app.contact(), { name: 'Expires', value: '3600' }, { name: 'Content-Type', value: 'application/msrtc-event-categories+xml' }, { name: 'subscription-state', value: 'active;expires=3600' }],
        body: Buffer.from('<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:juliet@xmpp.example"><category name="state" container="100"><state><availability>3500</availability></state></category></categories>'),
      });
    };
    const r = (await (await fetch(`${emu.controlUrl}/_emulator/users/carol/watch`, { method: 'POST', body: JSON.stringify({ to: 'juliet@xmpp.example' }) })).json()) as { status: number };
    assert.equal(r.status, 200);
    const sub = app.requests.find((x) => x.request.method === 'SUBSCRIBE');
    assert.ok(sub);
    assert.match(headerValues(sub.request, 'Supported').join(','), /ms-piggyback-first-notify/u);
    assert.match(headerValues(sub.request, 'Supported').join(','), /ms-benotify/u);
    const watching = (await (await fetch(`${emu.controlUrl}/_emulator/users/carol/watching`)).json()) as Record<string, { body: string }>;
    assert.match(watching['sip:juliet@xmpp.example']?.body ?? '', /<availability>3500/u);
    app.handler = (i) => app.answer(i);
    void uasDialog;
  });
});
