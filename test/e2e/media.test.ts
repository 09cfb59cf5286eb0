/**
 * Teams inline images end to end: Alice pastes an image in Teams; Juliet gets an XEP-0066 link to the gateway's
 * media proxy (on the webhook listener, HTTPS here) where the image was, and opening it gives exactly the image.
 * The link is signed: an altered one is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import xml from '@xmpp/xml';
import { COMPONENT, Federation, XMPP_DOMAIN } from '../support/federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

const ALICE_UPN = 'alice.smith@contoso.example';
const ALICE = `alice.smith@${COMPONENT}`;
const NS_OOB = 'jabber:x:oob';
/** A 1x1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe('Teams inline images', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start({ webhookTls: true });
    juliet = await f.client('juliet');
    await juliet.sendPresence();
    // First contact creates Juliet's account, the chat and the message subscription.
    await juliet.send(xml('message', { to: ALICE, type: 'chat', id: 'hello-1' }, xml('body', {}, 'hello Alice'), xml('request', { xmlns: 'urn:xmpp:receipts' })));
    await juliet.waitFor((el) => el.getChild('received', 'urn:xmpp:receipts')?.attrs.id === 'hello-1', 30_000, 'receipt of the first message');
  });
  after(async () => {
    if (process.env.XTG_DUMP) console.log(f?.gateway.dump());
    await f?.stop();
  });

  it('relays an inline image as an XEP-0066 link in place of the image, which serves exactly its bytes', async () => {
    await f.emulator.sendAs(ALICE_UPN, `juliet@${XMPP_DOMAIN}`, 'the map:', { images: [{ contentType: 'image/png', bytes: PNG }] });
    const msg = await juliet.waitFor((el) => el.name === 'message' && el.getChild('x', NS_OOB) !== undefined, 20_000, 'the message with the image');
    const oob = msg.getChild('x', NS_OOB);
    const url = oob?.getChildText('url') ?? '';
    assert.equal(oob?.getChildText('desc'), 'image');
    assert.match(url, new RegExp(`^https://127\\.0\\.0\\.1:${f.ports.webhook}/graph/notifications/media/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`, 'u'));
    assert.equal(msg.getChildText('body'), `the map:\n${url}`);
    assert.ok(!(msg.getChildText('body') ?? '').includes('[image]'));

    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), PNG);
    // Read with the delegated token of Juliet's account, as Graph requires.
    assert.ok(f.emulator.requests().some((q) => /\/hostedContents\/[^/]+\/\$value$/u.test(q.path) && q.status === 200 && q.tokenKind === 'delegated'));

    const dot = url.lastIndexOf('.');
    const tampered = `${url.slice(0, dot + 1)}${url[dot + 1] === 'A' ? 'B' : 'A'}${url.slice(dot + 2)}`;
    const forged = await fetch(tampered);
    assert.equal(forged.status, 403);
    assert.equal(await forged.text(), '');
  });
});
