/** The overview's chart: messages relayed per minute over the last hour, each way, as bars in an SVG. */
import { svg } from './dom.js';
import type { Overview } from './types.js';

const W = 600;
const H = 150;

export function relayChart(series: Overview['series']): SVGElement {
  const max = Math.max(1, ...series.map((p) => Math.max(p.xmppToTeams, p.teamsToXmpp)));
  const slot = W / Math.max(1, series.length);
  const bar = Math.max(1, slot / 2 - 1);
  const total = (k: 'xmppToTeams' | 'teamsToXmpp') => series.reduce((n, p) => n + p[k], 0);
  const bars = series.flatMap((p, i) => {
    const x = i * slot;
    const hx = (p.xmppToTeams / max) * (H - 10);
    const ht = (p.teamsToXmpp / max) * (H - 10);
    return [
      svg('rect', { class: 'x2t', x: x.toFixed(1), y: (H - hx).toFixed(1), width: bar.toFixed(1), height: hx.toFixed(1) }),
      svg('rect', { class: 't2x', x: (x + bar + 1).toFixed(1), y: (H - ht).toFixed(1), width: bar.toFixed(1), height: ht.toFixed(1) }),
    ];
  });
  return svg(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${W} ${H}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `Messages relayed per minute over the last hour: ${total('xmppToTeams')} from XMPP to Teams, ${total('teamsToXmpp')} from Teams to XMPP; busiest minute ${max}.`,
    },
    bars,
  );
}
