/** Audit log: search by text, who, what and when; page back; export what matches as CSV. */
import { getJson } from './api.js';
import { field, fill, h, notice, table, time } from './dom.js';

interface AuditRecord {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail?: string;
}

export function auditPage(main: HTMLElement): void {
  const textIn = h('input', { id: 'audit-text', name: 'text', type: 'search', maxlength: 200 });
  const actorIn = h('input', { id: 'audit-actor', name: 'actor', maxlength: 450 });
  const actionIn = h('input', { id: 'audit-action', name: 'action', maxlength: 128, placeholder: 'e.g. whitelist.' });
  const fromIn = h('input', { id: 'audit-from', name: 'from', type: 'date' });
  const toIn = h('input', { id: 'audit-to', name: 'to', type: 'date' });
  const exportLink = h('a', { id: 'audit-export', class: 'button', href: '/console/api/audit.csv', download: true }, 'Export as CSV');
  const out = h('div');
  let rows: AuditRecord[] = [];

  const params = (): URLSearchParams => {
    const p = new URLSearchParams();
    if (textIn.value.trim()) p.set('text', textIn.value.trim());
    if (actorIn.value.trim()) p.set('actor', actorIn.value.trim());
    if (actionIn.value.trim()) p.set('action', actionIn.value.trim());
    if (fromIn.value) p.set('from', String(new Date(`${fromIn.value}T00:00:00`).getTime()));
    if (toIn.value) p.set('to', String(new Date(`${toIn.value}T00:00:00`).getTime() + 24 * 3_600_000));
    return p;
  };

  const load = async (more: boolean) => {
    const p = params();
    exportLink.setAttribute('href', `/console/api/audit.csv${p.size ? `?${p.toString()}` : ''}`);
    if (more && rows.length) p.set('before', String(rows[rows.length - 1]?.id));
    try {
      const r = await getJson<{ entries: AuditRecord[] }>(`/console/api/audit?${p.toString()}`);
      rows = more ? [...rows, ...r.entries] : r.entries;
      fill(
        out,
        h('p', { role: 'status', class: 'muted' }, `${rows.length} entr${rows.length === 1 ? 'y' : 'ies'} shown, newest first.`),
        rows.length ? table('Audit log', ['Time', 'Who', 'Action', 'Subject', 'Detail'], rows.map((e) => [time(e.at), e.actor, e.action, e.subject, e.detail ?? ''])) : null,
        r.entries.length === 100 ? h('button', { type: 'button', class: 'secondary', onclick: () => void load(true) }, 'Older') : null,
      );
    } catch (err) {
      fill(out, notice('error', `Cannot search the audit log: ${(err as Error).message}`));
    }
  };

  main.append(
    h(
      'form',
      { class: 'inline', role: 'search', id: 'audit-search', onsubmit: (e: Event) => { e.preventDefault(); void load(false); } },
      field('Contains', textIn),
      field('Who (exact)', actorIn),
      field('Action', actionIn),
      field('From', fromIn),
      field('To', toIn),
      h('button', { type: 'submit' }, 'Search'),
      exportLink,
    ),
    out,
  );
  void load(false);
}
