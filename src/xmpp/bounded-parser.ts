/**
 * The XML parser of the component link, with bounds (issue 12 finding 1, DESIGN.md decision 7: "stanza size and
 * rate are bounded before parsing costs anything"). It is @xmpp/xml's own stream parser (ltx underneath), with
 * three limits per stanza, counted while the tree is built:
 *
 * - nesting depth (the stanza element is depth 1): an element tree is walked recursively by toString, clone and
 *   getNS, so an unbounded depth is a stack overflow waiting for the first serializer;
 * - elements;
 * - retained size: element names, attribute names and values, text, in UTF-8 bytes.
 *
 * A stanza over a limit is not dropped: its top element (name and attributes, without children) is still
 * emitted, marked, so that the router answers it with an error (RFC 6120 §8.3.3.12 <policy-violation/>) and the
 * stream stays up. Everything below the limit is skipped without being kept. Text between stanzas (whitespace
 * keep-alives, RFC 6120 §4.6.1) is not kept either: @xmpp/xml would append it to the stream root for ever.
 */
import xml, { type Element } from '@xmpp/xml';

export interface StanzaLimits {
  /** Deepest nesting, the stanza element being depth 1. */
  readonly maxDepth: number;
  /** Most elements in one stanza, the stanza element included. */
  readonly maxElements: number;
  /** Most bytes of names, attributes and text in one stanza. */
  readonly maxBytes: number;
}

/** Depth 32 is far above any XEP payload the gateway reads (a vCard is 4 deep, XHTML-IM rarely 10). */
export const MAX_STANZA_DEPTH = 32;
/** A vCard with every field is about 60 elements; a message with markup a few hundred. */
export const MAX_STANZA_ELEMENTS = 2_000;

/** Why a stanza was cut short by the parser, or undefined for a stanza within the limits. */
const overLimit = new WeakMap<Element, string>();

export function stanzaOverLimit(stanza: Element): string | undefined {
  return overLimit.get(stanza);
}

interface LtxParserInternals {
  root: Element | null;
  cursor: Element | null;
  onStartElement(name: string, attrs: Record<string, string>): void;
  onEndElement(name: string): void;
  onText(text: string): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  write(data: string): void;
  end(data?: string): void;
}

type ParserClass = new () => LtxParserInternals;
const XmppParser = (xml as unknown as { Parser: ParserClass }).Parser;

/** The parser class for these limits, as @xmpp/connection instantiates it (`new this.Parser()`). */
export function boundedParser(limits: StanzaLimits): ParserClass {
  return class BoundedParser extends XmppParser {
    /** 0 outside the stream, 1 inside the stream root, 2 inside a stanza, and so on. */
    private level = 0;
    private elements = 0;
    private bytes = 0;
    private stanza: Element | null = null;
    private refused: string | undefined;

    override onStartElement(name: string, attrs: Record<string, string>): void {
      this.level++;
      if (this.level === 2) {
        this.elements = 0;
        this.bytes = 0;
        this.refused = undefined;
      }
      if (this.refused !== undefined) return;
      this.elements++;
      this.bytes += Buffer.byteLength(name);
      for (const k in attrs) this.bytes += Buffer.byteLength(k) + Buffer.byteLength(attrs[k] ?? '');
      super.onStartElement(name, attrs);
      if (this.level === 2) this.stanza = this.cursor;
      const depth = this.level - 1;
      if (depth > limits.maxDepth) this.refuse(`nested deeper than ${limits.maxDepth} elements`);
      else if (this.elements > limits.maxElements) this.refuse(`more than ${limits.maxElements} elements`);
      else if (this.bytes > limits.maxBytes) this.refuse(`larger than ${limits.maxBytes} bytes`);
    }

    override onEndElement(name: string): void {
      const level = this.level;
      this.level--;
      // Inside a refused stanza only its own end matters; the skipped part was never built.
      if (this.refused !== undefined && level > 2) return;
      super.onEndElement(name);
      if (level === 2) this.stanza = null;
    }

    override onText(text: string): void {
      if (this.level < 2 || this.refused !== undefined) return;
      this.bytes += Buffer.byteLength(text);
      if (this.bytes > limits.maxBytes) {
        this.refuse(`larger than ${limits.maxBytes} bytes`);
        return;
      }
      super.onText(text);
    }

    /** Keeps the stanza's own element, without what was built below it, and skips the rest of the stanza. */
    private refuse(reason: string): void {
      this.refused = reason;
      const stanza = this.stanza;
      if (!stanza) return;
      stanza.children = [];
      overLimit.set(stanza, reason);
      this.cursor = stanza;
    }
  };
}

/**
 * One stanza's text (as it crossed between nodes) back into an element, within the same limits: a stanza that
 * was within them when received still is; anything else is refused.
 */
export function parseStanza(text: string, limits: StanzaLimits): Element {
  const Parser = boundedParser(limits);
  const p = new Parser();
  let stanza: Element | undefined;
  let error: Error | undefined;
  p.on('element', (el: Element) => (stanza ??= el));
  p.on('error', (err: Error) => (error = err));
  p.write(`<stream>${text}</stream>`);
  if (error) throw error;
  if (!stanza) throw new Error('no stanza in the text');
  const reason = stanzaOverLimit(stanza);
  if (reason) throw new Error(`stanza ${reason}`);
  return stanza;
}
