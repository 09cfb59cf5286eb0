/**
 * A few DOM helpers instead of a framework: elements are built with createElement and text with text nodes, never
 * from HTML strings, so nothing the gateway reports (a JID, an error text, an audit subject) can become markup.
 */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
type Attr = string | number | boolean | undefined | null | ((e: Event) => void);

function append(parent: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Record<string, Attr> | null | undefined): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, Attr> | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag: string, attrs?: Record<string, Attr> | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces what an element holds. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function time(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return '–';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function count(n: number | undefined): string {
  return n === undefined ? '–' : Math.round(n).toLocaleString();
}

/** A notice that screen readers announce. */
export function notice(kind: 'error' | 'info', text: string): HTMLElement {
  return h('p', { class: kind === 'error' ? 'notice' : 'info', role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function table(caption: string, head: readonly string[], rows: readonly (readonly Child[])[], numeric: readonly number[] = []): HTMLTableElement {
  return h(
    'table',
    null,
    h('caption', { class: 'sr-only' }, caption),
    h('thead', null, h('tr', null, head.map((t, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : undefined }, t)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : undefined }, c))))),
  );
}

/** A labelled form control (the label beside it, not around it, so that its name is the label alone). */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement): HTMLElement {
  return h('span', { class: 'field' }, h('label', { for: control.id }, label), control);
}
