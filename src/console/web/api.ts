/**
 * Calls to the console API (same origin). Changes carry the session's CSRF token in X-CSRF-Token; an answer 401
 * means the session ended, and the page goes to the sign-in page.
 */
let csrfToken = '';
/** The tenant the pages act on (issue 16); empty: the session's own, or the first. */
let tenant = '';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', ...init });
  } catch {
    throw new ApiError(0, 'the node does not answer (network error)');
  }
  if (res.status === 401) {
    location.assign('/console/sign-in?notice=expired');
    throw new ApiError(401, 'signed out');
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body as T;
}

export function setTenant(id: string): void {
  tenant = id;
}

/** Every API call names the tenant chosen (the server ignores it for node-wide resources). */
export function getJson<T>(path: string): Promise<T> {
  return call<T>(tenant && path.startsWith('/console/api/') ? `${path}${path.includes('?') ? '&' : '?'}tenant=${encodeURIComponent(tenant)}` : path);
}

export function postJson<T>(path: string, body: unknown): Promise<T> {
  const scoped = tenant && path.startsWith('/console/api/') && typeof body === 'object' && body !== null ? { ...body, tenant } : body;
  return call<T>(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken }, body: JSON.stringify(scoped) });
}
