import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostedImagesOf, parseHostedContentUrl } from '../../src/protocol/hosted-content.js';

// The shape of Learn's example (https://learn.microsoft.com/en-us/graph/api/chat-list-messages), ids shortened.
const CHAT = '19:2da4c29f6d7041eca70b638b43d45437@thread.v2';
const HID = 'aWQ9eF8wLXd1cy1kOS1lNTRmNjM1NWYxYmJkNGQ3ZTNmNGJhZmU4NTI5MTBmNix0eXBlPTEsdXJsPWh0dHBzOi8vdXMtYXBpLmFzbS5za3lwZS5jb20vdjEvb2JqZWN0cy8wLXd1cy1kOS1lNTRmNjM1NWYxYmJkNGQ3ZTNmNGJhZmU4NTI5MTBmNi92aWV3cy9pbWdv';
const SRC = `https://graph.microsoft.com/v1.0/chats/${CHAT}/messages/1615971548136/hostedContents/${HID}/$value`;

describe('hosted content URLs', () => {
  const ref = { chatId: CHAT, messageId: '1615971548136', hostedContentId: HID };
  const table: [string, string, typeof ref | undefined][] = [
    ['Learn example (chat id as is)', SRC, ref],
    ['chat id percent-encoded', SRC.replace(CHAT, encodeURIComponent(CHAT)), ref],
    ['beta endpoint', SRC.replace('/v1.0/', '/beta/'), ref],
    ['another Graph host (a sovereign cloud, the emulator)', SRC.replace('graph.microsoft.com', '127.0.0.1:8443'), ref],
    ['plain http', SRC.replace('https:', 'http:'), undefined],
    ['without $value', SRC.replace('/$value', ''), undefined],
    ['with a query', `${SRC}?x=1`, undefined],
    ['a channel message', `https://graph.microsoft.com/v1.0/teams/t/channels/c/messages/1/hostedContents/${HID}/$value`, undefined],
    ['an extra segment', SRC.replace('/messages/', '/messages/x/'), undefined],
    ['not a URL', 'hostedContents', undefined],
    ['bad percent encoding', SRC.replace(CHAT, '%E0%A4%A'), undefined],
  ];
  for (const [name, src, expected] of table) it(name, () => assert.deepEqual(parseHostedContentUrl(src), expected));
});

describe('inline images of a message body', () => {
  it("finds Learn's example image", () => {
    const html = `<div><div><div><span><img height="63" src="${SRC}" width="67" style="vertical-align:bottom; width:67px; height:63px"></span></div></div></div>`;
    assert.deepEqual(hostedImagesOf(html, CHAT), [{ src: SRC, ref: { chatId: CHAT, messageId: '1615971548136', hostedContentId: HID } }]);
  });
  it('decodes entities in src, keeps order, lists each image once', () => {
    const other = SRC.replace(HID, 'b3RoZXI');
    const html = `<p>a<img src="${SRC.replace(/\$/gu, '&#36;')}"> b <img src="${other}"><img src="${SRC}"></p>`;
    assert.deepEqual(hostedImagesOf(html, CHAT).map((i) => i.ref.hostedContentId), [HID, 'b3RoZXI']);
  });
  it("ignores other images and another chat's hosted contents", () => {
    const html = `<img src="https://example.com/x.png"><img alt="no src"><img src="${SRC.replace(CHAT, '19:other@thread.v2')}">`;
    assert.deepEqual(hostedImagesOf(html, CHAT), []);
  });
});
