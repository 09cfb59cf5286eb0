/**
 * Teams inline images ("hosted contents") in a chat message body. Graph shows each one as an <img> whose src is the
 * Graph URL of its bytes, e.g. (https://learn.microsoft.com/en-us/graph/api/chat-list-messages, "List chat
 * messages" response):
 *   <img src="https://graph.microsoft.com/v1.0/chats/19:...@thread.v2/messages/1615971548136/hostedContents/aWQ9.../$value" ...>
 * Fetching it needs a Graph token that can read the chat
 * (https://learn.microsoft.com/en-us/graph/api/chatmessagehostedcontent-get, "Get hosted content bytes for an
 * image": GET /chats/{chat-id}/messages/{message-id}/hostedContents/{hosted-content-id}/$value, answered with the
 * bytes and their Content-Type; https://learn.microsoft.com/en-us/graph/api/resources/chatmessagehostedcontent).
 * Pure functions.
 */
import { Parser } from 'htmlparser2';

export interface HostedContentRef {
  readonly chatId: string;
  readonly messageId: string;
  readonly hostedContentId: string;
}

/** Chat ids contain ':' and '@', which Graph writes as is in these URLs; encoded forms are accepted too. */
const HOSTED_PATH = /^\/(?:v1\.0|beta)\/chats\/([^/]+)\/messages\/([^/]+)\/hostedContents\/([^/]+)\/\$value$/u;

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** The hosted content an <img src> names, or undefined when it is not a chat message's hosted content URL. */
export function parseHostedContentUrl(src: string): HostedContentRef | undefined {
  let url: URL;
  try {
    url = new URL(src);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '') return undefined;
  const m = HOSTED_PATH.exec(url.pathname);
  if (!m) return undefined;
  const [chatId, messageId, hostedContentId] = [decode(m[1] ?? ''), decode(m[2] ?? ''), decode(m[3] ?? '')];
  if (!chatId || !messageId || !hostedContentId) return undefined;
  return { chatId, messageId, hostedContentId };
}

/**
 * The hosted contents an HTML body shows as images, in order, each once, keyed by the src as written. Only those of
 * `chatId` are returned: an image of another chat is not something this chat's members are meant to open through it.
 */
export function hostedImagesOf(html: string, chatId: string): { readonly src: string; readonly ref: HostedContentRef }[] {
  const out: { src: string; ref: HostedContentRef }[] = [];
  const seen = new Set<string>();
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name !== 'img' || attrs.src === undefined || seen.has(attrs.src)) return;
        const ref = parseHostedContentUrl(attrs.src);
        if (!ref || ref.chatId !== chatId) return;
        seen.add(attrs.src);
        out.push({ src: attrs.src, ref });
      },
    },
    { decodeEntities: true, lowerCaseTags: true, recognizeSelfClosing: true },
  );
  parser.write(html);
  parser.end();
  return out;
}
