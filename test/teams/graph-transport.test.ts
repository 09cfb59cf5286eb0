import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { GraphError, ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { Metrics } from '../../src/observability/metrics.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { createGraphClient } from '../../src/teams/graph-client.js';
import { MAX_ANSWER_BYTES } from '../../src/teams/graph-transport.js';
import { toTeamsError } from '../../src/teams/graph-errors.js';
import { testTlsDir } from '../support/federation.js';

const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'token-1', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

interface Seen {
  readonly version: string;
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

/** A Graph-like server: what each request looked like, and a scripted answer per path. */
function graphLike(): { seen: Seen[]; handle: (req: IncomingMessage, res: ServerResponse) => void } {
  const seen: Seen[] = [];
  let throttledOnce = false;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      seen.push({ version: req.httpVersion, method: req.method ?? '', path, authorization: req.headers.authorization });
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'request-id': 'r-1', ...headers });
        res.end(JSON.stringify(body));
      };
      if (path.startsWith('/v1.0/chats/c1/messages')) json(201, { id: `m${seen.length}`, echoed: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      else if (path === '/v1.0/users/throttled') {
        if (throttledOnce) json(200, { id: 'throttled' });
        else {
          throttledOnce = true;
          json(429, { error: { code: 'TooManyRequests', message: 'slow down' } }, { 'retry-after': '0' });
        }
      } else if (path === '/v1.0/users/u1/photo/$value') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.end(Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0xd9]));
      } else if (path === '/v1.0/users/u1/photo/huge') {
        // An answer that never ends: the client must stop reading it, not grow without bound.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        const chunk = Buffer.alloc(1024 * 1024);
        const more = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', more);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        more();
      } else if (path === '/v1.0/users/reset') {
        res.socket?.destroy();
      } else json(404, { error: { code: 'Request_ResourceNotFound', message: `Resource '${path}' does not exist` } }, { 'retry-after': '7' });
    });
  };
  return { seen, handle };
}

async function listening(server: { listen(port: number, host: string, cb: () => void): unknown; address(): AddressInfo | string | null }): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function behavesAsGraph(client: Client, seen: Seen[]): Promise<void> {
  const posted = (await client.api('/chats/c1/messages').post({ body: { content: 'héllo' } })) as { id: string; echoed: unknown };
  assert.deepEqual(posted.echoed, { body: { content: 'héllo' } });
  const last = seen.at(-1);
  assert.equal(last?.version, '1.1');
  assert.equal(last?.method, 'POST');
  assert.equal(last?.authorization, 'Bearer token-1');

  // 429 + Retry-After: the client's retry handler tries again (a POST too: Graph did not process it).
  assert.deepEqual(await client.api('/users/throttled').get(), { id: 'throttled' });
  assert.equal(seen.filter((s) => s.path === '/v1.0/users/throttled').length, 2);

  // A Graph error keeps its status, code and headers.
  const err = await client.api('/users/nobody').get().then(
    () => assert.fail('404 expected'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GraphError);
  assert.equal(err.statusCode, 404);
  assert.equal(err.code, 'Request_ResourceNotFound');
  assert.equal(toTeamsError(err, 'read user').retryAfterMs, 7000);

  // Binary content read raw (profile photos).
  const photo = (await client.api('/users/u1/photo/$value').responseType(ResponseType.RAW).get()) as Response;
  assert.equal(photo.status, 200);
  assert.equal(photo.headers.get('Content-Type'), 'image/jpeg');
  assert.deepEqual([...new Uint8Array(await photo.arrayBuffer())], [0xff, 0xd8, 0xff, 0x00, 0x01, 0xd9]);

  // An answer above the transport's bound fails the request (a network failure), instead of filling memory.
  const huge = await client.api('/users/u1/photo/huge').responseType(ResponseType.RAW).get().then(
    () => assert.fail('a failure expected'),
    (e: unknown) => e,
  );
  assert.ok(huge instanceof GraphError && huge.statusCode === -1 && huge.message.includes(`larger than ${MAX_ANSWER_BYTES} bytes`), String(huge));

  // A connection that dies mid-request is a network failure for that request only; the next one reconnects.
  const reset = await client.api('/users/reset').get().then(
    () => assert.fail('a failure expected'),
    (e: unknown) => e,
  );
  assert.ok(reset instanceof GraphError && reset.statusCode === -1, `network failure expected, got ${String(reset)}`);
  assert.ok('id' in ((await client.api('/chats/c1/messages').post({ body: { content: 'again' } })) as object));
}

describe('Graph transport (the Graph client over node:https, answers read without fetch)', () => {
  const graph = graphLike();
  const server = createHttpsServer((req, res) => graph.handle(req, res));
  let url = '';

  before(async () => {
    const tls = await ensureTlsMaterial(testTlsDir());
    server.setSecureContext({ key: tls.key, cert: tls.cert });
    url = await listening(server);
  });
  after(() => {
    server.close();
    server.closeAllConnections();
  });

  it('sends what the client asks and hands back what Graph answered: JSON, errors, retries, raw bytes, failures', async () => {
    const client = createGraphClient(credential, { graphBaseUrl: url }, new Metrics({ defaultMetrics: false }));
    await behavesAsGraph(client, graph.seen);
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => client.api('/chats/c1/messages').post({ body: { content: `m${i}` } }) as Promise<{ id: string; echoed: { body: { content: string } } }>));
    assert.deepEqual(
      burst.map((b) => b.echoed.body.content),
      Array.from({ length: 30 }, (_, i) => `m${i}`),
    );
    assert.equal(new Set(burst.map((b) => b.id)).size, 30);
  });

  it('does not keep a command alive once its requests are answered (kept-alive connections idle unreferenced)', async () => {
    const module = fileURLToPath(new URL('../../src/teams/graph-client.js', import.meta.url));
    const script = `
      const { createGraphClient } = await import(${JSON.stringify(module)});
      const { Metrics } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/observability/metrics.js', import.meta.url)))});
      const c = createGraphClient({ getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600000 }) }, { graphBaseUrl: ${JSON.stringify(url)} }, new Metrics({ defaultMetrics: false }));
      const r = await c.api('/chats/c1/messages').post({ body: { content: 'from a command' } });
      console.log(r.id ? 'answered' : 'no id');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
    assert.equal(out.trim(), 'answered');
    assert.ok(Date.now() - started < 10_000, `the command exited after ${Date.now() - started} ms`);
  });
});
