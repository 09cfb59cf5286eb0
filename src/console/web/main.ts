/**
 * The console's entry module: reads the session (signing in again when it ended), shows who is signed in with a
 * sign-out button, and renders the page the shell names. Plain DOM modules, no framework (see dom.ts).
 */
import { getJson, postJson, setCsrfToken, setTenant } from './api.js';
import { fill, h, notice } from './dom.js';
import { auditPage } from './page-audit.js';
import { clusterPage } from './page-cluster.js';
import { deadLettersPage } from './page-dead-letters.js';
import { federationPage } from './page-federation.js';
import { overviewPage } from './page-overview.js';
import type { SessionInfo } from './types.js';

const PAGES: Record<string, (main: HTMLElement, s: SessionInfo) => void> = {
  overview: overviewPage,
  cluster: clusterPage,
  federation: federationPage,
  'dead-letters': deadLettersPage,
  audit: auditPage,
};

async function boot(): Promise<void> {
  const main = document.getElementById('main') as HTMLElement;
  let session: SessionInfo;
  try {
    session = await getJson<SessionInfo>('/console/api/session');
  } catch (err) {
    document.getElementById('loading')?.remove();
    main.append(notice('error', `The console cannot reach this node: ${(err as Error).message}`));
    return;
  }
  setCsrfToken(session.csrfToken);
  const who = document.getElementById('who');
  if (who) {
    fill(
      who,
      h('span', null, 'Signed in as ', h('strong', null, session.name), session.via === 'token' ? ' (admin token)' : ''),
      tenantChooser(session),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          id: 'sign-out',
          onclick: () =>
            void postJson('/console/auth/sign-out', {}).finally(() => location.assign('/console/sign-in?notice=signed-out')),
        },
        'Sign out',
      ),
    );
  }
  document.getElementById('loading')?.remove();
  const page = PAGES[document.body.dataset.page ?? ''];
  if (page) page(main, session);
}

/**
 * Several tenants (issue 16): the federation, dead-letter and audit pages show one tenant's data, chosen here and
 * kept for the browser tab; a tenant's own administrators see theirs only.
 */
function tenantChooser(session: SessionInfo): HTMLElement | null {
  const KEY = 'xtg-console-tenant';
  const kept = sessionStorage.getItem(KEY) ?? '';
  const current = session.tenants.includes(kept) ? kept : (session.tenant ?? session.tenants[0] ?? '');
  setTenant(current);
  if (session.tenants.length <= 1) return session.tenant ? h('span', null, ` · tenant ${session.tenant}`) : null;
  const select = h('select', { id: 'tenant', name: 'tenant' }, ...session.tenants.map((id) => h('option', id === current ? { value: id, selected: true } : { value: id }, id)));
  select.addEventListener('change', () => {
    sessionStorage.setItem(KEY, select.value);
    location.reload();
  });
  return h('span', null, h('label', { for: 'tenant' }, ' Tenant '), select);
}

void boot();
