/**
 * The emulator's own HTTP(S) client for calls to subscribers' endpoints (validation handshakes and notification
 * POSTs). HTTPS endpoints are verified against Node's trust store, NODE_EXTRA_CA_CERTS included, as Graph verifies
 * a subscriber's certificate against public roots.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type PostOutcome = { status: number; contentType: string | undefined; body: string } | { error: string };

const MAX_RESPONSE = 64 * 1024;

export function post(url: string, body: string, contentType: string, timeoutMs: number, signal?: AbortSignal): Promise<PostOutcome> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ error: `invalid URL ${url}` });
      return;
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (o: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const req = send(
      target,
      {
        method: 'POST',
        headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
        ...(signal ? { signal } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_RESPONSE) chunks.push(c);
        });
        res.on('end', () => {
          const ct = res.headers['content-type'];
          finish({ status: res.statusCode ?? 0, contentType: typeof ct === 'string' ? ct : undefined, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err: Error) => finish({ error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      finish({ error: `no response within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: Error) => finish({ error: err.message }));
    req.end(body);
  });
}
