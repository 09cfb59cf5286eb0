/**
 * Standards smoke test of the project's SIP stack (issue 17) against two independent implementations, over TCP on
 * loopback: Kamailio (Debian's, as proxy with Record-Route and as registrar) and baresip (Debian's, a user agent
 * driven through its console). What passes here was understood by parsers, transaction layers and dialog logic that
 * are not ours: REGISTER, page-mode MESSAGE, INVITE with 180 then CANCEL/487, INVITE answered 200 with the ACK and
 * a BYE routed by the Record-Route, and an INVITE from baresip refused 486 with the ACK of that failure.
 * Installed by the test command only when this file is selected (src/sandbox/os-deps.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newCallId, newTag } from '../../../src/sfb/sip/build.js';
import { uacDialog } from '../../../src/sfb/sip/dialog.js';
import { SipEndpoint, type IncomingRequest } from '../../../src/sfb/sip/endpoint.js';
import { header, headerValues, type SipRequest } from '../../../src/sfb/sip/message.js';
import { SipTlsTransport } from '../../../src/sfb/sip/transport.js';
import { portOpen } from '../../../src/sandbox/port-open.js';
import { freePorts } from '../../support/ports.js';
import { waitFor } from '../support.js';

// Opus at 48 kHz: baresip's sine source (the test's silent 'microphone') runs at 48 kHz only.
const AUDIO_SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n';

function kamailioConfig(port: number): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=tcp:127.0.0.1:${port}
auto_aliases=no
alias="127.0.0.1:${port}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "kex.so"
loadmodule "corex.so"
modparam("usrloc", "db_mode", 0)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404", "Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  if (is_method("REGISTER")) { save("location"); exit; }
  if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  t_relay();
}
`;
}

describe('SIP stack against Kamailio and baresip (TCP, loopback)', { timeout: 90_000 }, () => {
  let dir: string;
  let kamailio: ChildProcess;
  let baresip: ChildProcess;
  let out = '';
  let transport: SipTlsTransport;
  let ep: SipEndpoint;
  let kPort: number;
  const incoming: IncomingRequest[] = [];
  const say = (cmd: string) => baresip.stdin?.write(`${cmd}\n`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xtg-sip-smoke-'));
    const [k, b, a] = (await freePorts(3)) as [number, number, number];
    kPort = k;
    await mkdir(join(dir, 'run'));
    await writeFile(join(dir, 'kamailio.cfg'), kamailioConfig(k));
    kamailio = spawn('/usr/sbin/kamailio', ['-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-Y', join(dir, 'run'), '-P', join(dir, 'run', 'kamailio.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    kamailio.stderr?.on('data', () => undefined);
    for (let i = 0; i < 100 && !(await portOpen(k)); i++) await new Promise((r) => setTimeout(r, 100));
    const bs = join(dir, 'baresip');
    await mkdir(bs);
    await writeFile(
      join(bs, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${b}`,
        'sip_transports tcp',
        `audio_player aufile,${join(bs, 'out.wav')}`,
        'audio_source ausine,440',
        `audio_alert aufile,${join(bs, 'alert.wav')}`,
        'module_path /usr/lib/baresip/modules',
        'module stdio.so',
        'module g711.so',
        'module opus.so',
        'module ausine.so',
        'module aufile.so',
        'module_app account.so',
        'module_app menu.so',
        '',
      ].join('\n'),
    );
    await writeFile(join(bs, 'accounts'), `<sip:bob@127.0.0.1;transport=tcp>;auth_pass=x;outbound="sip:127.0.0.1:${k};transport=tcp";regint=600;answermode=manual\n`);
    baresip = spawn('baresip', ['-f', bs], { stdio: ['pipe', 'pipe', 'pipe'] });
    baresip.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    baresip.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    await waitFor(() => (/registered successfully/u.test(out) ? true : undefined), 20_000, `baresip registered; output:\n${out}`);
    transport = new SipTlsTransport({ identity: { key: '', cert: '', ca: '' }, listen: { host: '127.0.0.1', port: a }, trusted: () => true, plainTcp: true, keepAliveMs: 0 });
    await transport.start();
    ep = new SipEndpoint({ transport, host: '127.0.0.1', port: transport.port, viaTransport: 'TCP', outboundProxy: { host: '127.0.0.1', port: k }, userAgent: 'xtg-smoke' });
    ep.onRequest = (i) => {
      incoming.push(i);
      if (i.request.method === 'OPTIONS') i.respond(200, { toTag: newTag() });
      else if (i.request.method === 'INVITE') i.respond(486, { toTag: newTag() });
      else if (i.request.method !== 'ACK') i.respond(200);
    };
  });

  after(async () => {
    await transport?.stop();
    baresip?.kill('SIGTERM');
    kamailio?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const req = (method: string, uri: string, extra: { name: string; value: string }[] = [], body = ''): SipRequest => ({
    kind: 'request',
    method,
    uri,
    headers: [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<sip:alice@127.0.0.1>;tag=${newTag()}` },
      { name: 'To', value: `<${method === 'REGISTER' ? 'sip:alice@127.0.0.1' : uri}>` },
      { name: 'Call-ID', value: newCallId() },
      { name: 'CSeq', value: `1 ${method}` },
      { name: 'Contact', value: `<sip:alice@127.0.0.1:${transport.port};transport=tcp>` },
      ...extra,
    ],
    body: Buffer.from(body),
  });

  it('registers with Kamailio, and a page-mode MESSAGE reaches baresip through it', async () => {
    const reg = await ep.request(req('REGISTER', 'sip:127.0.0.1', [{ name: 'Expires', value: '600' }]));
    assert.equal(reg.status, 200);
    const msg = await ep.request(req('MESSAGE', 'sip:bob@127.0.0.1', [{ name: 'Content-Type', value: 'text/plain;charset=UTF-8' }], 'hello baresip, Grüße'));
    assert.equal(msg.status, 200);
    await waitFor(() => (out.includes('hello baresip, Grüße') ? true : undefined), 10_000, `the MESSAGE in baresip's output:\n${out}`);
  });

  it('INVITE rings (180), CANCEL ends it with 487', async () => {
    const invite = req('INVITE', 'sip:bob@127.0.0.1', [{ name: 'Content-Type', value: 'application/sdp' }], AUDIO_SDP);
    let ringing = false;
    const final = ep.request(invite, { onProvisional: (r) => (ringing ||= r.status === 180) });
    await waitFor(() => (ringing ? true : undefined), 10_000, 'ringing');
    const cancel = ep.cancel(invite);
    assert.ok(cancel);
    assert.equal((await cancel).status, 200);
    assert.equal((await final).status, 487);
  });

  it('INVITE answered 200: the ACK and the BYE follow the Record-Route through Kamailio', async () => {
    const invite = req('INVITE', 'sip:bob@127.0.0.1', [{ name: 'Content-Type', value: 'application/sdp' }], AUDIO_SDP);
    const final = ep.request(invite, { onProvisional: (r) => r.status === 180 && say('/accept') });
    const ok = await final;
    assert.equal(ok.status, 200, `baresip did not answer; its output:\n${out}`);
    assert.equal(headerValues(ok, 'Record-Route').length, 1, 'Kamailio record-routed the dialog');
    const dialog = uacDialog(invite, ok);
    await waitFor(() => (/Call established|established/iu.test(out) ? true : undefined), 10_000, `the call established after our ACK:\n${out}`);
    const bye = ep.sendInDialog(dialog, 'BYE');
    assert.equal((await bye.sent).status, 200);
    assert.equal(header(ok, 'CSeq'), '1 INVITE');
  });

  it('baresip reaches us through Kamailio: OPTIONS answered, and an INVITE refused 486 is ACKed', async () => {
    say('/options sip:alice@127.0.0.1');
    await waitFor(() => incoming.find((i) => i.request.method === 'OPTIONS'), 10_000, `OPTIONS from baresip:\n${out}`);
    say('/dial sip:alice@127.0.0.1');
    const inv = await waitFor(() => incoming.find((i) => i.request.method === 'INVITE'), 10_000, `INVITE from baresip:\n${out}`);
    assert.ok(headerValues(inv.request, 'Record-Route').length >= 1);
    await waitFor(() => (/486|Busy/u.test(out) ? true : undefined), 10_000, `baresip saw the 486:\n${out}`);
    // The ACK of the failure ended our server transaction (no Timer H): nothing waits any more.
    await waitFor(() => (inv.transactionState === 'terminated' ? true : undefined), 10_000, `the INVITE transaction ended (state ${inv.transactionState})`);
    assert.ok(await portOpen(kPort));
  });
});
