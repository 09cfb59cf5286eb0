/** Federation: the domain, user and group whitelists, changed with a reason (audited), and a domain's users. */
import { getJson, postJson } from './api.js';
import { field, fill, h, notice, table, time } from './dom.js';

interface Entry {
  readonly source: 'config' | 'store';
  readonly kind: 'domain' | 'user' | 'group';
  readonly value: string;
  readonly addedAt?: number;
  readonly addedBy?: string;
}

interface DomainUsers {
  readonly domain: string;
  readonly users: readonly { readonly remoteJid: string; readonly teamsPartners: number; readonly subscribed: boolean; readonly lastActivityAt: number }[];
}

const DAY_MS = 24 * 3_600_000;

export function federationPage(main: HTMLElement): void {
  const lists = h('div');
  const result = h('div', { 'aria-live': 'polite' });
  const usersOut = h('div');
  const op = h('select', { id: 'wl-op', name: 'op' }, h('option', { value: 'add' }, 'Add'), h('option', { value: 'remove' }, 'Remove'));
  const kind = h('select', { id: 'wl-kind', name: 'kind' }, h('option', { value: 'domain' }, 'Remote domain'), h('option', { value: 'user' }, 'Teams user (UPN or id)'), h('option', { value: 'group' }, 'Entra group id'));
  const value = h('input', { id: 'wl-value', name: 'value', required: true, maxlength: 400, autocomplete: 'off' });
  const reason = h('input', { id: 'wl-reason', name: 'reason', required: true, maxlength: 500 });
  const lookup = h('input', { id: 'users-domain', name: 'domain', required: true, maxlength: 253, autocomplete: 'off' });

  const showUsers = async (domain: string) => {
    try {
      const r = await getJson<DomainUsers>(`/console/api/federation/users?domain=${encodeURIComponent(domain)}`);
      const now = Date.now();
      fill(
        usersOut,
        h('h3', null, `Users of ${r.domain}`),
        r.users.length
          ? table(`XMPP users of ${r.domain}`, ['XMPP user', 'Teams partners', 'Presence subscription', 'Last activity', 'Active (24 h)'], r.users.map((u) => [u.remoteJid, String(u.teamsPartners), u.subscribed ? 'yes' : 'no', time(u.lastActivityAt), now - u.lastActivityAt < DAY_MS ? 'yes' : 'no']), [1])
          : h('p', { class: 'muted' }, `No user of ${r.domain} has used the gateway yet.`),
      );
    } catch (err) {
      fill(usersOut, notice('error', `Cannot list the users: ${(err as Error).message}`));
    }
  };

  const load = async () => {
    try {
      const r = await getJson<{ entries: readonly Entry[]; maxRemoteDomains?: number }>('/console/api/federation');
      const section = (k: Entry['kind'], title: string) => {
        const rows = r.entries.filter((e) => e.kind === k);
        return [
          h('h2', null, title),
          rows.length
            ? table(
                title,
                ['Value', 'Where', 'Added', 'By', 'Actions'],
                rows.map((e) => [
                  e.value,
                  e.source === 'config' ? 'configuration file' : 'console / API',
                  time(e.addedAt),
                  e.addedBy ?? '',
                  [
                    e.source === 'store'
                      ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${e.value}`, onclick: () => { op.value = 'remove'; kind.value = e.kind; value.value = e.value; reason.focus(); } }, 'Remove…')
                      : h('span', { class: 'muted' }, 'edit the file'),
                    k === 'domain' && !e.value.startsWith('*.') ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Users of ${e.value}`, onclick: () => void showUsers(e.value) }, 'Users') : null,
                  ],
                ]),
              )
            : h('p', { class: 'muted' }, 'None: deny by default.'),
        ];
      };
      fill(
        lists,
        r.maxRemoteDomains !== undefined ? h('p', { class: 'muted' }, `The licence allows ${r.maxRemoteDomains} remote domain rules.`) : null,
        section('domain', 'Remote XMPP domains'),
        section('user', 'Teams users'),
        section('group', 'Entra groups'),
      );
    } catch (err) {
      fill(lists, notice('error', `Cannot read the whitelist: ${(err as Error).message}`));
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await postJson<{ changed: boolean }>('/console/api/federation', { op: op.value, kind: kind.value, value: value.value, reason: reason.value });
      fill(result, notice('info', r.changed ? `${op.value === 'add' ? 'Added' : 'Removed'} ${kind.value} ${value.value}. Every node applies it within policy.reloadSeconds.` : `Nothing changed: ${op.value === 'add' ? 'already listed' : 'not listed here'}.`));
      value.value = '';
      reason.value = '';
      await load();
    } catch (err) {
      fill(result, notice('error', `Not changed: ${(err as Error).message}`));
    }
  };

  main.append(
    h('h2', null, 'Change the whitelist'),
    h(
      'form',
      { class: 'inline', id: 'whitelist-form', onsubmit: (e: Event) => void submit(e) },
      field('Change', op),
      field('Kind', kind),
      field('Value', value),
      field('Reason (audited)', reason),
      h('button', { type: 'submit' }, 'Apply'),
    ),
    result,
    lists,
    h('h2', null, 'Users of a domain'),
    h('form', { class: 'inline', onsubmit: (e: Event) => { e.preventDefault(); void showUsers(lookup.value.trim().toLowerCase()); } }, field('Domain', lookup), h('button', { type: 'submit' }, 'Show users')),
    usersOut,
  );
  void load();
}
