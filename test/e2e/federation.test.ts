/**
 * The federation path end to end (issue 2): a real Prosody and real XMPP clients on one side, the Graph
 * emulator on the other, one gateway node between them started by its CLI. The same scenarios run over S2S in
 * test/e2e/s2s-*.test.ts.
 */
import { after, before, describe } from 'node:test';
import { Federation } from '../support/federation.js';
import { chatScenarios } from '../support/scenarios/chat.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

describe('federation path on one node', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start();
    juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence(); // initial presence: the server delivers messages to available resources
  });

  after(async () => {
    await f?.stop();
  });

  chatScenarios(() => ({ f, xmpp: juliet }));
});
