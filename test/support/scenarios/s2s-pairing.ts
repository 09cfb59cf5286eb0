/**
 * One pairing of real servers over S2S (issue 14): the gateway's front server of one kind and the partner
 * organisation's of the same or the other kind. The XMPP users live on the partner server, so every stanza of the
 * chat and card scenarios crosses an S2S link with STARTTLS and certificate authentication; then the whitelist
 * at both layers. One federation for the whole suite.
 */
import { after, before, describe } from 'node:test';
import type { ServerKind } from '../../../src/sandbox/xmpp-server.js';
import { S2sFederation } from '../s2s-federation.js';
import type { TestXmppClient } from '../xmpp-client.js';
import { PHOTO, cardScenarios } from './cards.js';
import { chatScenarios } from './chat.js';
import { ALICE_UPN } from './common.js';
import { s2sWhitelistScenarios } from './s2s-whitelist.js';

const NAMES: Record<ServerKind, string> = { prosody: 'Prosody', ejabberd: 'ejabberd' };

export function describeS2sPairing(front: ServerKind, partner: ServerKind): void {
  describe(`S2S: ${NAMES[front]} in front, partner on ${NAMES[partner]}`, { timeout: 300_000 }, () => {
    let f: S2sFederation;
    let benvolio: TestXmppClient;
    let mercutio: TestXmppClient;

    before(async () => {
      f = await S2sFederation.start({ front, partner, longMessages: 'split', whitelistHosts: true });
      f.emulator.setPhoto(ALICE_UPN, PHOTO);
      benvolio = await f.client('benvolio');
      mercutio = await f.client('mercutio');
      for (const c of [benvolio, mercutio]) {
        await c.requestRoster();
        await c.sendPresence();
      }
    });
    after(async () => {
      if (process.env.XTG_DUMP) console.log(f?.gateway.dump());
      await f?.stop();
    });

    describe('chat', () => chatScenarios(() => ({ f, xmpp: benvolio })));
    describe('cards, edits and reactions', () => cardScenarios(() => ({ f, xmpp: mercutio })));
    describe('whitelist at both layers', () => s2sWhitelistScenarios(() => f));
  });
}
