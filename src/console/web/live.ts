/** The live feed of the overview and cluster pages (Server-Sent Events from /console/api/live). */
import { fill, h, time } from './dom.js';
import type { Snapshot } from './types.js';

/**
 * Renders each snapshot's part for this page, and says in `status` when it was updated or that the stream is
 * reconnecting (EventSource reconnects by itself).
 */
export function live<T extends { readonly at: number }>(status: HTMLElement, pick: (s: Snapshot) => T, render: (part: T) => void): () => void {
  const source = new EventSource('/console/api/live');
  source.addEventListener('snapshot', (e) => {
    const part = pick(JSON.parse((e as MessageEvent<string>).data) as Snapshot);
    render(part);
    fill(status, 'Live · updated ', time(part.at));
  });
  source.addEventListener('ended', () => {
    source.close();
    location.assign('/console/sign-in?notice=expired');
  });
  source.onerror = () => fill(status, h('span', { class: 'warn' }, 'Live updates interrupted; reconnecting…'));
  return () => source.close();
}
