/**
 * Real S2S federation (issue 14), Prosody in front of the gateway and the partner organisation on ejabberd: the
 * same scenarios as on one server, with the XMPP users on the partner server, so every stanza crosses an S2S
 * link with STARTTLS and certificate authentication; and the whitelist at both layers.
 */
import { after, before, describe } from 'node:test';
import { ALICE_UPN } from '../support/scenarios/common.js';
import { PHOTO, cardScenarios } from '../support/scenarios/cards.js';
import { chatScenarios } from '../support/scenarios/chat.js';
import { s2sWhitelistScenarios } from '../support/scenarios/s2s-whitelist.js';
import { S2sFederation } from '../support/s2s-federation.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

describe('S2S: Prosody in front, partner on ejabberd', { timeout: 300_000 }, () => {
  let f: S2sFederation;
  let benvolio: TestXmppClient;
  let mercutio: TestXmppClient;

  before(async () => {
    f = await S2sFederation.start({ front: 'prosody', partner: 'ejabberd', longMessages: 'split', whitelistHosts: true });
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
