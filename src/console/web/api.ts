/**
 * Calls to the console API (same origin). Changes carry the session's CSRF token in X-CSRF-Token; an answer 401
 * means the session ended, and the page goes to the sign-in page.
 */
let csrfToken = '';

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

export function getJson<T>(path: string): Promise<T> {
  return call<T>(path);
}

export function postJson<T>(path: string, body: unknown): Promise<T> {
  return call<T>(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken }, body: JSON.stringify(body) });
}
