import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stripXmlInvalid, teamsHtmlToText, textToTeamsHtml } from '../../src/protocol/message-body.js';

describe('XMPP text -> Teams HTML', () => {
  const table: [string, string][] = [
    ['hello', 'hello'],
    ['<b>x</b> & "y" \'z\'', '&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot; &#39;z&#39;'],
    ['line 1\nline 2\r\nline 3', 'line 1<br>line 2<br>line 3'],
    ['a   b', 'a &nbsp;&nbsp;b'],
    ['Grüße 👋 日本語', 'Grüße 👋 日本語'],
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
  ];
  for (const [text, html] of table) it(JSON.stringify(text), () => assert.equal(textToTeamsHtml(text), html));
});

describe('Teams HTML -> XMPP text (hostile input)', () => {
  const table: [string, string, string][] = [
    ['paragraphs and breaks', '<p>Hi <b>Juliet</b></p><p>line<br>two</p>', 'Hi Juliet\nline\ntwo'],
    ['entities decoded once', '&lt;tag&gt; &amp;amp; &quot;q&quot;', '<tag> &amp; "q"'],
    ['script and style dropped', '<p>a</p><script>alert("x")</script><style>p{}</style><p>b</p>', 'a\nb'],
    ['event handlers vanish with the tags', '<img src=x onerror="alert(1)">hi', '[image]hi'],
    ['unsafe link target not shown', '<a href="javascript:alert(1)">click</a>', 'click'],
    ['safe link target shown', '<a href="https://example.com/x">docs</a>', 'docs (https://example.com/x)'],
    ['emoji element', 'ok <emoji id="smile" alt="😄" title="Smile"></emoji>', 'ok 😄'],
    ['lists', '<ul><li>one</li><li>two</li></ul>', '• one\n• two'],
    ['unclosed and nested junk', '<div><b><i>deep</div>text', 'deep\ntext'],
    ['iframe content dropped', 'x<iframe src="https://evil"><p>inner</p></iframe>y', 'xy'],
    ['control characters removed', 'a\u0001b\u0007c', 'abc'],
    ['pre keeps spaces', '<pre>a   b\n  c</pre>', 'a   b\n  c'],
  ];
  for (const [name, html, text] of table) it(name, () => assert.equal(teamsHtmlToText(html), text));

  it('round-trips any text through both conversions', () => {
    for (const text of ['a < b && c > d', 'multi\nline\n\ntext', '"quoted" \'single\'', 'tabs\tand  spaces', '🎉 émoji ✓']) {
      assert.equal(teamsHtmlToText(textToTeamsHtml(text)), text.replace(/\t/gu, '    '));
    }
  });
  it('strips code points XML cannot carry but keeps surrogate pairs', () => {
    assert.equal(stripXmlInvalid('a\ud800b😀\uffff'), 'ab😀');
  });
});

describe('splitting long messages for Teams', async () => {
  const { splitForTeams } = await import('../../src/protocol/message-body.js');
  it('leaves a message that fits alone', () => assert.deepEqual(splitForTeams('short', 100), ['short']));
  it('splits at line ends, then spaces, each part fitting once escaped', () => {
    const text = Array.from({ length: 40 }, (_, i) => `line ${i} with <angle> & ampersand`).join('\n');
    const parts = splitForTeams(text, 200);
    assert.ok(parts.length > 1);
    for (const p of parts) assert.ok(Buffer.byteLength(textToTeamsHtml(p), 'utf8') <= 200, p);
    // Only the separator at each cut (a line end or a space) is dropped.
    assert.equal(parts.join(' ').replace(/\s+/gu, ' '), text.replace(/\s+/gu, ' '));
  });
  it('cuts inside an over-long word without splitting a character', () => {
    const text = '😀'.repeat(100);
    const parts = splitForTeams(text, 50);
    for (const p of parts) assert.ok(Buffer.byteLength(textToTeamsHtml(p), 'utf8') <= 50);
    assert.equal(parts.join(''), text);
  });
});

describe('Teams HTML -> XMPP text: images replaced by links', () => {
  const link = (src: string) => (src.startsWith('https://graph/') ? `https://gw/media/${src.slice(14)}` : undefined);
  const table: [string, string, string][] = [
    ['an image alone', '<p><img src="https://graph/a" alt="image"></p>', 'https://gw/media/a'],
    ['between words, set apart by spaces', 'look<img src="https://graph/a">here', 'look https://gw/media/a here'],
    ['spaces already there are not doubled', 'look <img src="https://graph/a"> here', 'look https://gw/media/a here'],
    ['two images in a row', '<img src="https://graph/a"><img src="https://graph/b">', 'https://gw/media/a https://gw/media/b'],
    ['an image in its own paragraph', '<p>see</p><p><img src="https://graph/a"></p><p>done</p>', 'see\nhttps://gw/media/a\ndone'],
    ['other images keep their alt text or [image]', '<img src="https://x/e.png" alt="🙂"> <img src="https://x/y">', '🙂 [image]'],
  ];
  for (const [name, html, text] of table) it(name, () => assert.equal(teamsHtmlToText(html, { imageText: link }), text));
  it('without the option images stay "[image]"', () => assert.equal(teamsHtmlToText('<img src="https://graph/a">'), '[image]'));
});
