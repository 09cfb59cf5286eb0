/**
 * Message bodies between XMPP (plain text, RFC 6121 §5.2.3) and Teams (chatMessage body with contentType
 * "html", https://learn.microsoft.com/en-us/graph/api/resources/itembody). Pure functions.
 *
 * Direction XMPP -> Teams escapes everything, so no markup from XMPP ever reaches Teams as markup.
 * Direction Teams -> XMPP parses the HTML and keeps only its text; scripts, styles and every attribute are
 * dropped, links keep their target in parentheses, emoji keep their Unicode alt text.
 */
import { Parser } from 'htmlparser2';

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/gu, (ch) => HTML_ESCAPES[ch] ?? ch);
}

/**
 * Plain text to Teams HTML: escaped, newlines as <br>, and runs of spaces kept with &nbsp; because HTML would
 * collapse them (indentation in pasted text matters to readers).
 */
export function textToTeamsHtml(text: string): string {
  return escapeHtml(text.replace(/\r\n?/gu, '\n'))
    .replace(/ {2,}/gu, (run) => ' ' + '&nbsp;'.repeat(run.length - 1))
    .replace(/\t/gu, '&nbsp;&nbsp;&nbsp;&nbsp;')
    .replace(/\n/gu, '<br>');
}

const BLOCK = new Set([
  'p', 'div', 'section', 'article', 'header', 'footer', 'blockquote', 'pre', 'table', 'tr', 'ul', 'ol', 'li',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'dl', 'dt', 'dd', 'figure', 'address',
]);
/** Elements whose content is never text for a reader. */
const DROPPED = new Set(['script', 'style', 'head', 'title', 'template', 'noscript', 'iframe', 'object', 'embed', 'svg', 'math', 'select', 'textarea', 'button']);
const SAFE_LINK = /^(https?:|mailto:|xmpp:|tel:)/iu;

export interface HtmlToTextOptions {
  /**
   * The text that stands for an image, by its src (e.g. the link to a Teams inline image); undefined keeps the default:
   * its alt text, or "[image]".
   */
  readonly imageText?: (src: string) => string | undefined;
}

/** Teams HTML to plain text for an XMPP <body/>. */
export function teamsHtmlToText(html: string, options: HtmlToTextOptions = {}): string {
  const out: string[] = [];
  let dropDepth = 0;
  let preDepth = 0;
  let spaceAfter = false;
  const links: Array<{ href: string | undefined; start: number }> = [];
  const newline = () => {
    const last = out.length ? out[out.length - 1] : '';
    if (out.length && !last?.endsWith('\n')) out.push('\n');
  };
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (dropDepth > 0 || DROPPED.has(name)) {
          if (DROPPED.has(name)) dropDepth++;
          return;
        }
        if (name === 'pre') preDepth++;
        if (BLOCK.has(name)) newline();
        if (name === 'li') out.push('• ');
        if (name === 'br') out.push('\n');
        if (name === 'td' || name === 'th') out.push(' ');
        // An image the caller names (a Teams inline image: its link) is replaced; Teams renders emoji as
        // <emoji alt="😀" ...></emoji> and custom ones as images with an alt.
        const replaced = name === 'img' && attrs.src !== undefined ? options.imageText?.(attrs.src) : undefined;
        if (replaced !== undefined) {
          // A link stands apart from the words around it, or clients would not see where it ends.
          const before = out.join('');
          out.push(before === '' || /\s$/u.test(before) ? replaced : ` ${replaced}`);
          spaceAfter = true;
        } else if (name === 'emoji' || name === 'img') {
          const alt = attrs.alt ?? '';
          out.push(alt !== '' ? alt : name === 'img' ? '[image]' : '');
        }
        if (name === 'a') links.push({ href: attrs.href, start: out.join('').length });
      },
      ontext(text) {
        if (dropDepth > 0) return;
        if (spaceAfter && /^\S/u.test(text)) out.push(' ');
        if (text !== '') spaceAfter = false;
        out.push(preDepth > 0 ? text : text.replace(/\s+/gu, ' '));
      },
      onclosetag(name) {
        if (DROPPED.has(name)) {
          dropDepth = Math.max(0, dropDepth - 1);
          return;
        }
        if (dropDepth > 0) return;
        if (name === 'pre') preDepth = Math.max(0, preDepth - 1);
        if (name === 'a') {
          const link = links.pop();
          const shown = out.join('').slice(link?.start ?? 0).trim();
          if (link?.href && SAFE_LINK.test(link.href) && shown !== link.href && `mailto:${shown}` !== link.href) {
            out.push(` (${link.href})`);
          }
        }
        if (BLOCK.has(name)) newline();
      },
    },
    { decodeEntities: true, lowerCaseTags: true, recognizeSelfClosing: true },
  );
  parser.write(html);
  parser.end();
  return stripXmlInvalid(
    out
      .join('')
      .split('\n')
      .map((line) => line.replace(/[ \t\u00a0]+$/u, '').replace(/^ (?=\S)/u, ''))
      .join('\n')
      .replace(/\u00a0/gu, ' ')
      .replace(/\n{3,}/gu, '\n\n')
      .trim(),
  );
}

/**
 * Removes code points XML 1.0 cannot carry (§2.2 Char): C0 controls but tab/LF/CR, lone surrogates, U+FFFE/FFFF.
 * A Teams message may contain them; an XMPP stanza must not.
 */
export function stripXmlInvalid(text: string): string {
  // With the u flag a well-formed surrogate pair is one code point, so the class only matches lone halves.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ud800-\udfff]/gu, '');
}

/**
 * Splits a text that is too long for one Teams message into parts whose Teams HTML fits `maxHtmlBytes`, breaking
 * at line ends, then at spaces, and only inside a word when a word alone is too long. Never splits a character.
 */
export function splitForTeams(text: string, maxHtmlBytes: number): string[] {
  const fits = (t: string) => Buffer.byteLength(textToTeamsHtml(t), 'utf8') <= maxHtmlBytes;
  if (fits(text)) return [text];
  const parts: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    if (fits(rest)) {
      parts.push(rest);
      break;
    }
    // The longest prefix that fits (binary search over code points), then back off to a line end or a space.
    const chars = Array.from(rest);
    let lo = 1;
    let hi = chars.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(chars.slice(0, mid).join(''))) lo = mid;
      else hi = mid - 1;
    }
    const prefix = chars.slice(0, lo).join('');
    const cut = Math.max(prefix.lastIndexOf('\n'), prefix.lastIndexOf(' '));
    const head = cut > prefix.length / 2 ? prefix.slice(0, cut) : prefix;
    parts.push(head);
    rest = rest.slice(head.length).replace(/^[ \n]/u, '');
  }
  return parts;
}
