import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapAttachments } from '../../src/protocol/attachments.js';
import { chatMessage } from '../../src/protocol/stanza.js';

const a = (contentType: string, over: Partial<{ id: string; contentUrl: string; name: string; content: string }> = {}) => ({
  id: over.id ?? 'a1',
  contentType,
  contentUrl: over.contentUrl,
  name: over.name,
  content: over.content,
});

describe('Teams attachments for XMPP', () => {
  it('maps a quoted message, a shared file and an unshowable card', () => {
    const m = mapAttachments([
      a('messageReference', { id: '171', content: JSON.stringify({ messageId: '171', messagePreview: 'the original' }) }),
      a('reference', { contentUrl: 'https://contoso.sharepoint.com/f/plan.docx', name: 'plan.docx' }),
      a('reference', { contentUrl: 'javascript:alert(1)', name: 'evil' }),
      a('application/vnd.microsoft.card.adaptive'),
    ]);
    assert.deepEqual(m.quoted, { messageId: '171', preview: 'the original' });
    assert.deepEqual(m.links, [{ url: 'https://contoso.sharepoint.com/f/plan.docx', desc: 'plan.docx' }]);
    assert.deepEqual(m.unshown, ['reference', 'adaptive']);
  });
  it('builds an XEP-0461 reply with an XEP-0428 fallback quote, and XEP-0066 links', () => {
    const el = chatMessage({ from: 'a@t', to: 'j@x', id: '9', body: 'yes', reply: { to: 'j@x', id: 'm1', quote: 'shall we?\nat 10' }, links: [{ url: 'https://x/f', desc: 'f.pdf' }] });
    assert.equal(el.getChildText('body'), '> shall we?\n> at 10\nyes\n📎 f.pdf: https://x/f');
    assert.deepEqual(el.getChild('reply', 'urn:xmpp:reply:0')?.attrs, { xmlns: 'urn:xmpp:reply:0', to: 'j@x', id: 'm1' });
    const fb = el.getChild('fallback', 'urn:xmpp:fallback:0')?.getChild('body');
    assert.equal(Array.from(el.getChildText('body') ?? '').slice(Number(fb?.attrs.start), Number(fb?.attrs.end)).join(''), '> shall we?\n> at 10\n');
    assert.equal(el.getChild('x', 'jabber:x:oob')?.getChildText('url'), 'https://x/f');
  });
});
