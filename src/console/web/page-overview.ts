/** Overview: is federation working right now, and how much goes through, updated live. */
import { getJson } from './api.js';
import { relayChart } from './chart.js';
import { count, fill, h, notice, table, time } from './dom.js';
import { live } from './live.js';
import type { Overview, Readiness } from './types.js';

const CHECKS: Record<string, string> = { xmpp: 'XMPP link', graph: 'Graph token', store: 'Store', redis: 'Redis', licence: 'Licence' };

function checkList(r: Readiness | undefined): HTMLElement {
  if (!r) return h('p', { class: 'bad' }, 'No report from this node.');
  return h(
    'ul',
    null,
    Object.entries(r.checks).map(([k, ok]) =>
      h('li', { 'data-check': k }, h('span', { class: ok ? 'ok status' : 'bad status' }, ok ? '✓ ' : '✗ '), `${CHECKS[k] ?? k}: `, ok ? 'OK' : (r.problems?.[k] ?? 'failing')),
    ),
  );
}

export function overviewPage(main: HTMLElement): void {
  const problems = h('div');
  const health = h('div', { class: 'cards' });
  const traffic = h('div', { class: 'cards' });
  const chart = h('div');
  const chartTable = h('div');
  const status = h('p', { class: 'muted', id: 'live-status' }, 'Connecting…');
  main.append(
    status,
    problems,
    h('h2', null, 'Is federation working?'),
    health,
    h('h2', null, 'Messages relayed'),
    h('p', { class: 'muted' }, 'Totals since each node started.'),
    traffic,
    h('h3', null, 'Per minute, last hour'),
    h('p', { class: 'legend' }, h('span', null, h('span', { class: 'swatch x2t' }), 'XMPP → Teams'), h('span', null, h('span', { class: 'swatch t2x' }), 'Teams → XMPP')),
    chart,
    h('details', null, h('summary', null, 'The chart as a table'), chartTable),
  );

  const render = (o: Overview) => {
    fill(problems, o.problems.map((p) => notice('error', p)));
    fill(
      health,
      o.nodes.map((n) =>
        h(
          'section',
          { class: 'card', 'data-node': n.id, 'aria-label': `Node ${n.id}` },
          h('h3', null, `Node ${n.id}`, n.self ? ' (this one)' : '', ': ', h('span', { class: n.readiness?.ok ? 'ok' : 'bad' }, n.readiness?.ok ? 'ready' : 'not ready')),
          checkList(n.readiness),
          h('p', { class: 'muted' }, 'checked ', time(n.at)),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-label': 'Webhook deliveries' },
        h('h3', null, 'Graph webhook deliveries'),
        h('ul', null, Object.keys(o.totals.webhook).length ? Object.entries(o.totals.webhook).map(([k, v]) => h('li', null, `${k.replace(/_/gu, ' ')}: `, h('span', { 'data-stat': `webhook-${k}` }, count(v)))) : h('li', { class: 'muted' }, 'none yet')),
      ),
      o.licence
        ? h('section', { class: 'card', 'aria-label': 'Licence' }, h('h3', null, 'Licence'), h('p', { class: o.licence.ok ? 'ok' : 'bad' }, o.licence.ok ? `${o.licence.licenceId ?? ''} (${o.licence.licensee ?? ''}), until ${o.licence.expiresAt ?? '–'}` : (o.licence.problem ?? 'not serving')))
        : null,
    );
    const stat = (label: string, key: string, total: number, minute: number) =>
      h('section', { class: 'card', 'aria-label': label }, h('h3', null, label), h('p', { class: 'big', 'data-stat': key }, count(total)), h('p', { class: 'muted' }, h('span', { 'data-stat': `${key}-minute` }, count(minute)), ' this minute'));
    fill(
      traffic,
      stat('XMPP → Teams', 'xmpp-to-teams', o.totals.xmppToTeams, o.lastMinute.xmppToTeams),
      stat('Teams → XMPP', 'teams-to-xmpp', o.totals.teamsToXmpp, o.lastMinute.teamsToXmpp),
      h('section', { class: 'card', 'aria-label': 'Not relayed' }, h('h3', null, 'Not relayed'), h('ul', null, h('li', null, 'dead letters: ', count(o.totals.deadLetters)), h('li', null, 'policy refusals: ', count(o.totals.policyRefusals)), h('li', null, 'throttled: ', count(o.totals.throttled)))),
    );
    fill(chart, relayChart(o.series));
    const busy = o.series.filter((p) => p.xmppToTeams + p.teamsToXmpp > 0);
    fill(chartTable, busy.length ? table('Messages relayed per minute', ['Minute', 'XMPP → Teams', 'Teams → XMPP'], busy.map((p) => [time(p.minute), count(p.xmppToTeams), count(p.teamsToXmpp)]), [1, 2]) : h('p', { class: 'muted' }, 'Nothing relayed in the last hour.'));
  };

  void getJson<Overview>('/console/api/overview').then(render, (err: Error) => fill(problems, notice('error', `Cannot read the overview: ${err.message}`)));
  live(status, (s) => s.overview, render);
}
