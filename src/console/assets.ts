/**
 * The console's static files: the front-end modules compiled by `npm run build` (src/console/web, its own
 * tsconfig, into dist/src/console/web), the style sheet, and the two HTML documents (the sign-in page and the
 * shell every console page loads in). Nothing here holds data or a secret; everything is served from memory with
 * an ETag, and every script is a file of this origin (the CSP allows nothing else).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { STYLES } from './styles.js';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function asset(body: Buffer | string, type: string): Asset {
  const b = Buffer.from(body);
  return { body: b, type, etag: `"${createHash('sha256').update(b).digest('base64url').slice(0, 22)}"` };
}

const NAME = /^[a-z0-9-]+\.js$/u;

/** The compiled modules and the style sheet, by file name. */
export function loadAssets(webDir: URL = new URL('./web/', import.meta.url)): Map<string, Asset> {
  const out = new Map<string, Asset>([['console.css', asset(STYLES, 'text/css; charset=utf-8')]]);
  let names: string[] = [];
  try {
    names = readdirSync(webDir).filter((n) => NAME.test(n));
  } catch {
    // Not built: the shell still loads and says so (main.js missing -> the noscript-like notice stays).
  }
  for (const n of names) out.set(n, asset(readFileSync(new URL(n, webDir)), 'text/javascript; charset=utf-8'));
  return out;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/gu, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** The pages of the console: path segment and title (the navigation, in this order). */
export const PAGES = [
  ['overview', 'Overview'],
  ['cluster', 'Cluster'],
  ['federation', 'Federation'],
  ['dead-letters', 'Dead letters and refusals'],
  ['audit', 'Audit log'],
] as const;

export type PageName = (typeof PAGES)[number][0];

/** The document every console page loads in; main.js fills <main> from the API. */
export function shellHtml(page: PageName, nodeId: string): string {
  const title = PAGES.find(([p]) => p === page)?.[1] ?? 'Console';
  const nav = PAGES.map(([p, t]) => `<li><a href="/console/${p}"${p === page ? ' aria-current="page"' : ''}>${t}</a></li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · XMPP–Teams gateway</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script type="module" src="/console/assets/main.js"></script>
</head>
<body data-page="${page}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<p class="brand">XMPP–Teams gateway <span class="muted">console · node ${escapeHtml(nodeId)}</span></p>
<div id="who" class="who"></div>
</header>
<nav aria-label="Console pages"><ul>${nav}</ul></nav>
<main id="main" tabindex="-1">
<h1>${escapeHtml(title)}</h1>
<p id="loading" class="muted">Loading…</p>
</main>
</body>
</html>
`;
}

export type SignInNotice = 'wrong-token' | 'too-many' | 'signed-out' | 'expired' | 'oidc-failed' | 'oidc-denied' | 'oidc-not-admin' | 'no-method' | 'cross-origin';

const NOTICES: Record<SignInNotice, string> = {
  'wrong-token': 'Wrong admin token. The attempt is logged.',
  'too-many': 'Too many failed sign-ins from this address: wait a minute.',
  'signed-out': 'You are signed out.',
  expired: 'Your session has ended: sign in again.',
  'oidc-failed': 'Sign-in with Entra ID did not complete (the node log says why).',
  'oidc-denied': 'Entra ID refused the sign-in.',
  'oidc-not-admin': 'Your account is not in an admin group of the console.',
  'no-method': 'No sign-in method is configured: set admin.token or console.oidc.',
  'cross-origin': 'The request did not come from this console.',
};

export function signInHtml(o: { nodeId: string; token: boolean; oidc: boolean; notice: SignInNotice | undefined }): string {
  const notice = o.notice ? `<p class="notice" role="alert">${escapeHtml(NOTICES[o.notice])}</p>` : '';
  const token = o.token
    ? `<form method="post" action="/console/auth/token" class="card">
<h2>With the admin token</h2>
<p class="muted">The token of <code>admin.token</code>. It is checked here and never stored in the browser.</p>
<label for="name">Your name (for the audit log)</label>
<input id="name" name="name" required maxlength="80" autocomplete="name">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" required autocomplete="current-password">
<button type="submit">Sign in</button>
</form>`
    : '';
  const oidc = o.oidc
    ? `<div class="card"><h2>With Microsoft Entra ID</h2><p class="muted">For members of the console's admin groups.</p><p><a class="button" href="/console/auth/oidc">Sign in with Entra ID</a></p></div>`
    : '';
  const none = !o.token && !o.oidc ? `<p class="notice" role="alert">${escapeHtml(NOTICES['no-method'])}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · XMPP–Teams gateway</title>
<link rel="stylesheet" href="/console/assets/console.css">
</head>
<body>
<main id="main" class="sign-in">
<h1>Gateway console</h1>
<p class="muted">Node ${escapeHtml(o.nodeId)}</p>
${notice}${none}${token}${oidc}
</main>
</body>
</html>
`;
}
