/**
 * The emulator's HTTPS listener. Graph and the identity platform are HTTPS only (MSAL refuses a plain-http
 * authority), so the emulator serves TLS with a certificate the client trusts (src/sandbox/tls.ts's CA through
 * NODE_EXTRA_CA_CERTS). Request bodies are bounded at 4 MB, Graph's own request size limit.
 */
import type { Socket } from 'node:net';
import { createServer } from 'node:https';
import { readBody, type Call, type Reply } from './http.js';

const MAX_BODY = 4 * 1024 * 1024;

export interface Listening {
  readonly url: string;
  close(): Promise<void>;
}

export async function listen(
  o: { tls: { key: string; cert: string }; host: string; port: number; clockOffsetMs?: number },
  handle: (call: Call) => Promise<Reply>,
): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createServer({ key: o.tls.key, cert: o.tls.cert }, (req, res) => {
    void (async () => {
      let reply: Reply;
      try {
        const body = await readBody(req, MAX_BODY);
        const url = new URL(req.url ?? '/', `https://${req.headers.host ?? `${o.host}:${o.port}`}`);
        reply =
          body === undefined
            ? { status: 413, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'RequestEntityTooLarge', message: 'Request Entity Too Large' } }) }
            : await handle({ method: (req.method ?? 'GET').toUpperCase(), url, headers: req.headers, body });
      } catch (err) {
        reply = { status: 500, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'UnknownError', message: String(err) } }) };
      }
      if (res.headersSent || res.destroyed) return;
      res.writeHead(reply.status, { Date: new Date(Date.now() + (o.clockOffsetMs ?? 0)).toUTCString(), ...reply.headers });
      res.end(reply.body);
    })();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `https://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
