/**
 * Teams message attachments (https://learn.microsoft.com/en-us/graph/api/resources/chatmessageattachment) as XMPP
 * sees them: a quoted message becomes an XEP-0461 reply, a shared file an XEP-0066 link; other kinds (cards) are
 * named in the text so the reader knows something was not shown. Pure.
 */

export interface TeamsAttachment {
  readonly id: string;
  readonly contentType: string;
  readonly contentUrl: string | undefined;
  readonly name: string | undefined;
  readonly content: string | undefined;
}

export interface MappedAttachments {
  /** The Teams id of the quoted message, and its preview text. */
  readonly quoted: { readonly messageId: string; readonly preview: string } | undefined;
  readonly links: { readonly url: string; readonly desc: string }[];
  /** Attachments XMPP cannot show (adaptive cards, ...), by kind, for a note in the text. */
  readonly unshown: string[];
}

const SAFE_URL = /^https:\/\//iu;

export function mapAttachments(attachments: readonly TeamsAttachment[]): MappedAttachments {
  let quoted: MappedAttachments['quoted'];
  const links: { url: string; desc: string }[] = [];
  const unshown: string[] = [];
  for (const a of attachments) {
    if (a.contentType === 'messageReference') {
      let ref: { messageId?: unknown; messagePreview?: unknown } = {};
      try {
        ref = JSON.parse(a.content ?? '{}') as typeof ref;
      } catch {
        // a malformed reference is shown as a plain message
      }
      const messageId = typeof ref.messageId === 'string' ? ref.messageId : a.id;
      quoted = { messageId, preview: typeof ref.messagePreview === 'string' ? ref.messagePreview : '' };
    } else if (a.contentType === 'reference' && a.contentUrl && SAFE_URL.test(a.contentUrl)) {
      links.push({ url: a.contentUrl, desc: a.name ?? 'file' });
    } else {
      unshown.push(a.contentType.replace(/^application\/vnd\.microsoft\.card\./u, '') || 'attachment');
    }
  }
  return { quoted, links, unshown };
}
