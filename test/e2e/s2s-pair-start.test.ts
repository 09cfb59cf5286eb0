/**
 * Starting a federated pair of servers when one of them cannot start: the error names the cause, and the other
 * server, which started alongside, is stopped rather than left running (a server left running holds the test file
 * or the sandbox that started it open: a CI run once hung that way until its time limit).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { portOpen } from '../../src/sandbox/port-open.js';
import { S2sPair } from '../../src/sandbox/s2s-pair.js';
import { ensureTlsMaterial } from '../../src/sandbox/tls.js';
import { freePorts } from '../support/ports.js';
import { testTlsDir } from '../support/federation.js';

describe('S2sPair.start when one server cannot start', () => {
  let dir: string;
  let squatter: Server;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xtg-s2s-pair-'));
  });
  after(async () => {
    squatter?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('names the port in use and stops the partner server that did start', async () => {
    const tls = await ensureTlsMaterial(testTlsDir());
    const [frontC2s, component, partnerC2s] = (await freePorts(3)) as [number, number, number];
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(frontC2s, '127.0.0.1', resolve));
    const users = [{ user: 'romeo', password: 'secret' }];
    await assert.rejects(
      S2sPair.start({
        dir,
        tls,
        front: {
          kind: 'prosody',
          c2sPort: frontC2s,
          componentPort: component,
          hosts: [{ domain: 'front.example', users }],
          component: { domain: 'teams.front.example', secret: 'component-secret' },
          policy: { domains: ['partner.example'] },
        },
        partner: { kind: 'prosody', c2sPort: partnerC2s, hosts: [{ domain: 'partner.example', users }] },
      }),
      new RegExp(`port ${frontC2s} on 127.0.0.1 is already in use`),
    );
    // The partner had every reason to start; it must not be serving (or about to) once start() has failed.
    await sleep(1500);
    assert.equal(await portOpen(partnerC2s), false, "the partner's server was left running");
  });
});
