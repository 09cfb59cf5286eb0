/** The live feed of the overview and cluster pages (Server-Sent Events from /console/api/live). */
import type { Snapshot } from './types.js';

export function subscribe(onSnapshot: (s: Snapshot) => void, onState: (state: 'live' | 'reconnecting') => void): () => void {
  const source = new EventSource('/console/api/live');
  source.addEventListener('snapshot', (e) => {
    onState('live');
    onSnapshot(JSON.parse((e as MessageEvent<string>).data) as Snapshot);
  });
  source.addEventListener('ended', () => {
    source.close();
    location.assign('/console/sign-in?notice=expired');
  });
  source.onerror = () => onState('reconnecting');
  return () => source.close();
}
