// Minimal typings for the parts of xmpp.js (https://github.com/xmppjs/xmpp.js) the gateway uses.
// xmpp.js ships no TypeScript declarations.

declare module '@xmpp/xml' {
  export type Node = Element | string;
  export class Element {
    constructor(name: string, attrs?: Record<string, string | undefined>);
    name: string;
    attrs: Record<string, string | undefined>;
    children: Node[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    append(...nodes: Node[]): Element;
    c(name: string, attrs?: Record<string, string | undefined>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    clone(): Element;
    toString(): string;
  }
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: Array<Node | Node[] | null | undefined | false>
  ): Element;
  export class Parser {
    constructor();
    write(data: string): void;
    end(data?: string): void;
    on(event: 'element', cb: (el: Element) => void): this;
    on(event: 'error', cb: (err: Error) => void): this;
  }
  export function escapeXML(s: string): string;
  export default xml;
}

declare module '@xmpp/component-core' {
  import { EventEmitter } from 'node:events';
  import type { Element } from '@xmpp/xml';
  export class Component extends EventEmitter {
    constructor(options: { service: string; domain: string });
    status: string;
    options: { service: string; domain: string };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
    authenticate(id: string, password: string): Promise<void>;
    /** The stream parser class @xmpp/connection instantiates for each stream (`new this.Parser()`). */
    Parser: new () => unknown;
    /** The TCP connection to the server while there is one (@xmpp/connection-tcp). */
    socket: import('node:net').Socket | null | undefined;
  }
}

declare module '@xmpp/reconnect' {
  import { EventEmitter } from 'node:events';
  interface Reconnect extends EventEmitter {
    delay: number;
    start(): void;
    stop(): void;
  }
  export default function reconnect(opts: { entity: unknown }): Reconnect;
}

declare module '@xmpp/client' {
  import { EventEmitter } from 'node:events';
  import type { Element } from '@xmpp/xml';
  export interface XmppClient extends EventEmitter {
    start(): Promise<{ toString(): string }>;
    stop(): Promise<void>;
    send(el: Element): Promise<void>;
    status: string;
    jid?: { toString(): string; bare(): { toString(): string } };
    iqCaller: { request(el: Element, timeout?: number): Promise<Element> };
    reconnect: { stop(): void };
    /** The TCP connection to the server while there is one; after STARTTLS, a wrapper holding the TLS socket. */
    socket: import('node:net').Socket | { socket: import('node:tls').TLSSocket | null } | null | undefined;
  }
  export function client(options: {
    service: string;
    domain: string;
    username?: string;
    password?: string;
    resource?: string;
  }): XmppClient;
  export { xml } from '@xmpp/xml';
}
