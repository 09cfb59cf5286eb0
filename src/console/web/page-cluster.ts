/** Cluster: nodes, seats, roles, actors, placement moves, live; drain or resume a node. */
import { getJson, postJson } from './api.js';
import { field, count, fill, h, notice, table, time } from './dom.js';
import { live } from './live.js';
import type { ClusterView } from './types.js';

export function clusterPage(main: HTMLElement): void {
  const status = h('p', { class: 'muted' }, 'Connecting…');
  const problems = h('div');
  const nodes = h('div');
  const seats = h('div');
  const result = h('div', { 'aria-live': 'polite' });
  const nodeSelect = h('select', { id: 'drain-node', name: 'node', required: true });
  const reason = h('input', { id: 'drain-reason', name: 'reason', required: true, maxlength: 500 });
  let clustered = true;

  const act = async (op: 'drain' | 'resume') => {
    if (!reason.value.trim()) {
      fill(result, notice('error', 'Give a reason: it goes to the audit log.'));
      reason.focus();
      return;
    }
    try {
      await postJson('/console/api/cluster/drain', { op, node: nodeSelect.value, reason: reason.value });
      fill(result, notice('info', op === 'drain' ? `Drain of ${nodeSelect.value} asked: its actors move to the other nodes; the table shows when it stops serving.` : `${nodeSelect.value} asked to serve again.`));
      reason.value = '';
    } catch (err) {
      fill(result, notice('error', `${op === 'drain' ? 'Drain' : 'Resume'} refused: ${(err as Error).message}`));
    }
  };
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Drain or resume a node', onsubmit: (e: Event) => e.preventDefault() },
    field('Node', nodeSelect),
    field('Reason (audited)', reason),
    h('button', { type: 'button', class: 'danger', id: 'drain', onclick: () => void act('drain') }, 'Drain (hand off its actors)'),
    h('button', { type: 'button', class: 'secondary', id: 'resume', onclick: () => void act('resume') }, 'Resume'),
  );
  main.append(status, problems, h('h2', null, 'Nodes'), nodes, h('h2', null, 'Licence seats'), seats, h('h2', null, 'Drain a node'), h('p', { class: 'muted' }, 'A drained node serves nothing: its actors finish their messages and start on the other nodes, its seat and roles go to them. It stays up until you stop it, or resume it.'), form, result);

  const render = (c: ClusterView) => {
    clustered = c.clustered;
    fill(problems, c.problems.map((p) => notice('error', p)), c.clustered ? null : notice('info', 'This node runs alone (no cluster.redis): nothing to drain to. Stop it with SIGTERM instead.'));
    fill(
      nodes,
      table(
        'Nodes of the cluster',
        ['Node', 'Serving', 'Roles', 'Actors', 'Activations', 'Placement moves', 'Licence', 'Lease', 'Problem', 'Reported'],
        c.nodes.map((n) => [
          h('span', { 'data-node': n.id }, n.id, n.self ? ' (this one)' : ''),
          h('span', { class: n.serving ? 'ok' : 'bad', 'data-serving': n.id }, n.serving ? 'yes' : 'no'),
          n.roles.join(', ') || '–',
          count(n.actors),
          count(n.activations),
          Object.entries(n.stats?.totals.placementMoves ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || '0',
          n.licenceId ?? '–',
          n.leaseMsLeft === undefined ? '–' : `${(n.leaseMsLeft / 1000).toFixed(1)} s`,
          n.problem ?? '',
          time(n.stats?.at),
        ]),
        [3, 4],
      ),
    );
    fill(seats, c.seats.length ? h('ul', null, c.seats.map((s) => h('li', null, `${s.licenceId}: ${s.held.length} seat(s) held (${s.held.join(', ')})`))) : h('p', { class: 'muted' }, c.clustered ? 'No seat held.' : 'No licence needed when a node runs alone.'));
    const chosen = nodeSelect.value;
    const ids = c.nodes.map((n) => n.id);
    if (ids.join('\n') !== [...nodeSelect.options].map((o) => o.value).join('\n')) {
      fill(nodeSelect, ids.map((id) => h('option', { value: id }, id)));
      if (ids.includes(chosen)) nodeSelect.value = chosen;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = !clustered;
  };

  void getJson<ClusterView>('/console/api/cluster').then(render, (err: Error) => fill(problems, notice('error', `Cannot read the cluster: ${err.message}`)));
  live(status, (s) => s.cluster, render);
}
