/**
 * The node-to-node transport (issue 12 item 8, issue 15): requests and replies over one multiplexed connection,
 * the shared secret proved and never sent, mutual TLS with `cluster.tls` (a peer without a certificate of the
 * cluster CA is refused), and failures the router can act on (NodeUnreachableError, RemoteCallError).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { describeError } from '../../src/cluster/remote-errors.js';
import { NodeTransport, NodeUnreachableError, RemoteCallError, type ClusterTls } from '../../src/cluster/node-transport.js';
import { encodeFrame, FrameReader } from '../../src/cluster/transport/frames.js';
import { createLogger } from '../../src/observability/logger.js';
import { StanzaError } from '../../src/protocol/stanza-error.js';
import { writeClusterTls, type ClusterTlsFiles } from '../support/cluster-tls.js';

const SECRET = 'cluster-secret-for-tests-0123456789';

function node(id: string, o: { secret?: string; tls?: ClusterTls } = {}): { transport: NodeTransport; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: 'info', nodeId: id, stream });
  const transport = new NodeTransport({ host: '127.0.0.1', port: 0, secret: o.secret ?? SECRET, nodeId: id, log, describeError, tls: o.tls });
  transport.handle('/echo', async (body) => ({ echoed: body }));
  transport.handle('/refuse', async () => {
    throw new StanzaError('item-not-found', 'no such Teams user');
  });
  transport.handle('/slow', () => new Promise((r) => setTimeout(() => r('late'), 300)));
  return { transport, lines };
}

/** A TCP proxy that records every byte the client sends, and counts connections. */
async function recordingProxy(targetPort: number): Promise<{ port: number; sent: () => Buffer; connections: () => number; server: Server }> {
  const chunks: Buffer[] = [];
  let connections = 0;
  const server = createServer((inbound: Socket) => {
    connections++;
    const out = connectTcp({ host: '127.0.0.1', port: targetPort });
    inbound.on('data', (c: Buffer) => {
      chunks.push(c);
      out.write(c);
    });
    out.on('data', (c: Buffer) => inbound.write(c));
    inbound.on('close', () => out.destroy());
    out.on('close', () => inbound.destroy());
    inbound.on('error', () => undefined);
    out.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, sent: () => Buffer.concat(chunks), connections: () => connections, server };
}

describe('NodeTransport (plain TCP)', () => {
  const a = node('node-a');
  const b = node('node-b');
  before(async () => {
    await a.transport.start();
    await b.transport.start();
  });
  after(async () => {
    await a.transport.stop();
    await b.transport.stop();
  });

  it('answers many concurrent calls over one connection, and never sends the secret', async () => {
    const proxy = await recordingProxy(b.transport.port);
    try {
      const url = `http://127.0.0.1:${proxy.port}`;
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => a.transport.call('node-b', url, '/echo', { i, text: 'héllo 👋' }, 5_000)));
      assert.deepEqual(replies[199], { echoed: { i: 199, text: 'héllo 👋' } });
      assert.equal(proxy.connections(), 1);
      assert.equal(proxy.sent().includes(Buffer.from(SECRET)), false, 'the secret travelled');
    } finally {
      proxy.server.close();
    }
  });

  it('carries a handler failure back as a typed error, and an unknown path as one too', async () => {
    const url = `http://127.0.0.1:${b.transport.port}`;
    await assert.rejects(a.transport.call('node-b', url, '/refuse', {}, 5_000), (err: unknown) => err instanceof RemoteCallError && err.remoteName === 'StanzaError' && err.detail.condition === 'item-not-found');
    await assert.rejects(a.transport.call('node-b', url, '/nope', {}, 5_000), (err: unknown) => err instanceof RemoteCallError && err.remoteName === 'UnknownPath');
  });

  it('gives up on an answer after the timeout, and the connection goes on serving', async () => {
    const url = `http://127.0.0.1:${b.transport.port}`;
    await assert.rejects(a.transport.call('node-b', url, '/slow', {}, 50), (err: unknown) => err instanceof NodeUnreachableError && /no answer within 50 ms/u.test(err.message));
    assert.deepEqual(await a.transport.call('node-b', url, '/echo', 1, 5_000), { echoed: 1 });
  });

  it('refuses a node with another secret, and says why on both sides', async () => {
    const stranger = node('node-x', { secret: 'some-other-secret' });
    await stranger.transport.start();
    try {
      await assert.rejects(
        stranger.transport.call('node-b', `http://127.0.0.1:${b.transport.port}`, '/echo', {}, 2_000),
        (err: unknown) => err instanceof NodeUnreachableError && /cluster\.secret/u.test(err.message),
      );
      // And the other way round: the stranger cannot prove the secret to a's calls either.
      await assert.rejects(
        a.transport.call('node-x', `http://127.0.0.1:${stranger.transport.port}`, '/echo', {}, 2_000),
        (err: unknown) => err instanceof NodeUnreachableError && /does not hold this cluster\.secret/u.test(err.message),
      );
      // A client that answers the challenge with a made-up proof is refused, with a line saying so.
      const socket = connectTcp({ host: '127.0.0.1', port: b.transport.port });
      socket.on('error', () => undefined);
      const reader = new FrameReader(4096);
      const got: Record<string, unknown>[] = [];
      socket.on('data', (c: Buffer) => {
        for (const m of reader.push(c)) {
          got.push(m as Record<string, unknown>);
          if ((m as { t?: string }).t === 'challenge') socket.write(encodeFrame({ t: 'auth', proof: 'forged' }));
        }
      });
      socket.write(encodeFrame({ t: 'hello', v: 'xtg-cluster/1', node: 'intruder', nonce: 'n' }));
      await new Promise<void>((r) => socket.on('close', () => r()));
      assert.deepEqual(got.map((m) => m.t), ['challenge', 'refused']);
      assert.ok(b.lines.some((l) => l.message === 'cluster connection refused' && l.reason === 'wrong proof of the cluster secret'));
    } finally {
      await stranger.transport.stop();
    }
  });

  it('drops a connection that sends an oversized frame before authenticating', async () => {
    const socket = connectTcp({ host: '127.0.0.1', port: b.transport.port });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => undefined);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(10 * 1024 * 1024, 0);
    socket.write(huge);
    await closed;
  });

  it('fails calls pending on a node that dies, and reaches it again once it is back', async () => {
    const c = node('node-c');
    await c.transport.start();
    const port = c.transport.port;
    const url = `http://127.0.0.1:${port}`;
    assert.deepEqual(await a.transport.call('node-c', url, '/echo', 'before', 5_000), { echoed: 'before' });
    const pending = a.transport.call('node-c', url, '/slow', {}, 5_000);
    await new Promise((r) => setTimeout(r, 20));
    await c.transport.stop();
    await assert.rejects(pending, (err: unknown) => err instanceof NodeUnreachableError && err.nodeId === 'node-c');
    await assert.rejects(a.transport.call('node-c', url, '/echo', {}, 1_000), NodeUnreachableError);
    const again = new NodeTransport({ host: '127.0.0.1', port, secret: SECRET, nodeId: 'node-c', log: createLogger({ level: 'error', nodeId: 'c', stream: new Writable({ write: (_c, _e, cb) => cb() }) }), describeError });
    again.handle('/echo', async (body) => ({ echoed: body }));
    await again.start();
    try {
      assert.deepEqual(await a.transport.call('node-c', url, '/echo', 'after', 5_000), { echoed: 'after' });
    } finally {
      await again.stop();
    }
  });
});

describe('NodeTransport with cluster.tls (mutual TLS)', () => {
  let dir: string;
  let files: ClusterTlsFiles;
  let a: ReturnType<typeof node>;
  let b: ReturnType<typeof node>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xtg-cluster-tls-'));
    files = await writeClusterTls(dir);
    const tls = { ca: files.pem.ca, cert: files.pem.cert, key: files.pem.key };
    a = node('node-a', { tls });
    b = node('node-b', { tls });
    await a.transport.start();
    await b.transport.start();
  });
  after(async () => {
    await a?.transport.stop();
    await b?.transport.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves an https:// advertise URL over TLS 1.3, and nothing on the wire is readable', async () => {
    const proxy = await recordingProxy(b.transport.port);
    try {
      const reply = await a.transport.call('node-b', `https://127.0.0.1:${proxy.port}`, '/echo', { secret: 'message body' }, 5_000);
      assert.deepEqual(reply, { echoed: { secret: 'message body' } });
      const wire = proxy.sent();
      assert.equal(wire.includes(Buffer.from('message body')), false);
      assert.equal(wire.includes(Buffer.from('/echo')), false);
      assert.equal(wire[0], 0x16, 'a TLS handshake record');
    } finally {
      proxy.server.close();
    }
  });

  it('refuses a plain http:// peer, and a node without TLS cannot call a TLS node', async () => {
    await assert.rejects(a.transport.call('node-b', `http://127.0.0.1:${b.transport.port}`, '/echo', {}, 2_000), (err: unknown) => err instanceof NodeUnreachableError && /requires TLS/u.test(err.message));
    const plain = node('node-p');
    await plain.transport.start();
    try {
      await assert.rejects(plain.transport.call('node-b', `https://127.0.0.1:${b.transport.port}`, '/echo', {}, 2_000), (err: unknown) => err instanceof NodeUnreachableError && /no cluster\.tls/u.test(err.message));
      await assert.rejects(plain.transport.call('node-b', `http://127.0.0.1:${b.transport.port}`, '/echo', {}, 2_000), NodeUnreachableError);
    } finally {
      await plain.transport.stop();
    }
  });

  it('refuses a client without a certificate, or with one from another CA, before it can say anything', async () => {
    for (const client of [{ ca: files.pem.ca }, { ca: files.pem.ca, cert: files.foreign.cert, key: files.foreign.key }]) {
      const socket = connectTls({ host: '127.0.0.1', port: b.transport.port, ...client });
      socket.on('error', () => undefined);
      const reader = new FrameReader(4096);
      const got: unknown[] = [];
      socket.on('data', (c: Buffer) => got.push(...reader.push(c)));
      socket.on('secureConnect', () => socket.write(encodeFrame({ t: 'hello', v: 'xtg-cluster/1', node: 'intruder', nonce: 'n' })));
      await new Promise<void>((r) => socket.on('close', () => r()));
      assert.deepEqual(got, [], 'no challenge for a peer without a cluster certificate');
    }
    assert.ok(b.lines.some((l) => l.message === 'cluster connection refused: TLS'));
  });
});
