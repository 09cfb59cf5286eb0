/** Dead letters (metadata; text only where retention keeps it), retried or discarded; refusals by domain. */
import { getJson, postJson } from './api.js';
import { field, count, fill, h, notice, table, time } from './dom.js';

interface DeadLetter {
  readonly queue: 'outbox' | 'inbox';
  readonly id: number;
  readonly at: number;
  readonly attempts: number;
  readonly lastError?: string;
  readonly teamsUserId?: string;
  readonly remoteJid?: string;
  readonly sender?: string;
  readonly body?: string;
  readonly kind?: string;
  readonly resource?: string;
}

interface RefusalTotal {
  readonly domain: string;
  readonly direction: string;
  readonly reason: string;
  readonly count: number;
  readonly lastMinute: number;
}

const DIRECTION: Record<string, string> = { xmpp_to_teams: 'XMPP → Teams', teams_to_xmpp: 'Teams → XMPP' };

function reasonText(r: string): string {
  if (r.startsWith('throttle:')) {
    const [, scope, outcome] = r.split(':');
    return `throttled (${scope} limit, ${(outcome ?? '').replace(/_/gu, ' ')})`;
  }
  return { domain: 'domain not whitelisted', user: 'Teams user not whitelisted', pairing: 'pairing rule' }[r] ?? r;
}

export function deadLettersPage(main: HTMLElement): void {
  const list = h('div');
  const result = h('div', { 'aria-live': 'polite' });
  const refusals = h('div');
  const hours = h('select', { id: 'refusal-hours' }, h('option', { value: '1' }, 'last hour'), h('option', { value: '24', selected: true }, 'last 24 hours'), h('option', { value: '168' }, 'last 7 days'));
  let keepBodies = false;
  let before: number | undefined;
  let rows: DeadLetter[] = [];

  const act = async (what: 'retry' | 'discard', d: DeadLetter) => {
    try {
      await postJson(`/console/api/dead-letters/${what}`, { queue: d.queue, id: d.id });
      fill(result, notice('info', what === 'retry' ? `Dead letter ${d.queue} #${d.id} is queued again and is being delivered.` : `Dead letter ${d.queue} #${d.id} discarded.`));
      before = undefined;
      rows = [];
      await load();
    } catch (err) {
      fill(result, notice('error', `${what === 'retry' ? 'Retry' : 'Discard'} of #${d.id} refused: ${(err as Error).message}`));
    }
  };

  const render = (more: boolean) => {
    fill(
      list,
      keepBodies ? null : h('p', { class: 'muted' }, 'Message texts are erased when a message is dead-lettered (store.retention.keepBodies is off): such XMPP → Teams messages can be discarded, not sent again.'),
      rows.length
        ? table(
            'Dead letters',
            ['When', 'Way', 'From / about', 'Attempts', 'Last error', 'Text', 'Actions'],
            rows.map((d) => [
              time(d.at),
              d.queue === 'outbox' ? 'XMPP → Teams' : 'Teams → XMPP',
              d.queue === 'outbox' ? `${d.sender ?? ''} → Teams user ${d.teamsUserId ?? ''}` : `${d.kind ?? ''}: ${d.resource ?? ''}`,
              String(d.attempts),
              d.lastError ?? '',
              d.body !== undefined ? h('details', null, h('summary', null, 'Show text'), h('p', null, d.body)) : h('span', { class: 'muted' }, d.queue === 'outbox' ? 'erased' : 'none (fetched from Graph)'),
              [
                h('button', { type: 'button', 'data-retry': `${d.queue}:${d.id}`, 'aria-label': `Retry ${d.queue} dead letter ${d.id}`, disabled: d.queue === 'outbox' && d.body === undefined, onclick: () => void act('retry', d) }, 'Retry'),
                ' ',
                h('button', { type: 'button', class: 'secondary', 'aria-label': `Discard ${d.queue} dead letter ${d.id}`, onclick: () => void act('discard', d) }, 'Discard'),
              ],
            ]),
            [3],
          )
        : h('p', { class: 'muted' }, 'No dead letters.'),
      more ? h('button', { type: 'button', class: 'secondary', onclick: () => void load() }, 'Older') : null,
    );
  };

  const load = async () => {
    try {
      const r = await getJson<{ keepBodies: boolean; deadLetters: DeadLetter[] }>(`/console/api/dead-letters${before ? `?before=${before}` : ''}`);
      keepBodies = r.keepBodies;
      rows = [...rows, ...r.deadLetters];
      before = r.deadLetters.length ? Math.min(...r.deadLetters.map((d) => d.id)) : before;
      render(r.deadLetters.length === 100);
    } catch (err) {
      fill(list, notice('error', `Cannot read the dead letters: ${(err as Error).message}`));
    }
  };

  const loadRefusals = async () => {
    try {
      const r = await getJson<{ totals: RefusalTotal[] }>(`/console/api/refusals?hours=${hours.value}`);
      fill(
        refusals,
        r.totals.length
          ? table('Refusals and throttling by domain', ['Domain', 'Way', 'Why', 'Count', 'Last seen'], r.totals.map((t) => [t.domain, DIRECTION[t.direction] ?? t.direction, reasonText(t.reason), count(t.count), time(t.lastMinute)]), [3])
          : h('p', { class: 'muted' }, 'No refusal or throttling in this period.'),
      );
    } catch (err) {
      fill(refusals, notice('error', `Cannot read the refusals: ${(err as Error).message}`));
    }
  };
  hours.addEventListener('change', () => void loadRefusals());

  main.append(
    h('h2', null, 'Dead letters'),
    h('p', { class: 'muted' }, 'Messages given up after their retries. A retried message is queued again as new; its sender gets a receipt when Teams accepts it.'),
    result,
    list,
    h('h2', null, 'Refusals and throttling by domain'),
    h('form', { class: 'inline', onsubmit: (e: Event) => e.preventDefault() }, field('Period', hours)),
    refusals,
  );
  void load();
  void loadRefusals();
}
