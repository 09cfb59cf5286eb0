/** XML bodies of SIP messages (categories, typing notices, batch subscriptions), parsed with the XMPP side's parser. */
import xmlModule, { type Element, type Parser as XmlParser } from '@xmpp/xml';

// @xmpp/xml is CommonJS: its Parser class is reached through the default export.
const { Parser } = xmlModule as unknown as { Parser: new () => XmlParser };

export class SfbXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SfbXmlError';
  }
}

/**
 * Parses one XML document (an optional <?xml ...?> declaration first). The SIP codec has already bounded its size;
 * no DTD or entity is expanded (the parser knows none).
 */
export function parseXml(text: string): Element {
  const body = text.replace(/^\uFEFF?\s*<\?xml[^>]*\?>/u, '').trim();
  if (/<!DOCTYPE/iu.test(body)) throw new SfbXmlError('DTDs are not accepted');
  const parser = new Parser() as XmlParser & { on(event: 'start' | 'end', cb: (el: Element) => void): XmlParser };
  let root: Element | undefined;
  let done = false;
  let error: Error | undefined;
  parser.on('start', (el) => (root = el));
  parser.on('element', (el) => root?.append(el));
  parser.on('end', () => (done = true));
  parser.on('error', (err) => (error = err));
  try {
    parser.write(body);
  } catch (err) {
    throw new SfbXmlError(`not well-formed XML: ${(err as Error).message}`);
  }
  if (error) throw new SfbXmlError(`not well-formed XML: ${error.message}`);
  if (!root || !done) throw new SfbXmlError('incomplete XML document');
  return root;
}

/** The first child element with this local name, whatever its namespace prefix. */
export function child(el: Element | undefined, name: string): Element | undefined {
  return el?.getChildElements().find((c) => localName(c.name) === name);
}

export function children(el: Element | undefined, name: string): Element[] {
  return el?.getChildElements().filter((c) => localName(c.name) === name) ?? [];
}

export function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

export function textOf(el: Element | undefined): string | undefined {
  const t = el?.text().trim();
  return t ? t : undefined;
}
