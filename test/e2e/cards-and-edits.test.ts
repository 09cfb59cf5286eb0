/**
 * Contact cards and rich chat end to end (issue 6): vCard and avatar of a Teams user, the XMPP user's card on
 * its Teams account, and edits, deletes and reactions made on each side. The same scenarios run over S2S in
 * test/e2e/s2s-*.test.ts.
 */
import { after, before, describe } from 'node:test';
import { Federation } from '../support/federation.js';
import { ALICE_UPN } from '../support/scenarios/common.js';
import { PHOTO, cardScenarios } from '../support/scenarios/cards.js';
import type { TestXmppClient } from '../support/xmpp-client.js';

describe('contact cards, edits, deletes and reactions', { timeout: 180_000 }, () => {
  let f: Federation;
  let juliet: TestXmppClient;

  before(async () => {
    f = await Federation.start({ longMessages: 'split' });
    f.emulator.setPhoto(ALICE_UPN, PHOTO);
    juliet = await f.client('juliet');
    await juliet.requestRoster();
    await juliet.sendPresence();
  });
  after(async () => {
    if (process.env.XTG_DUMP) console.log(f?.gateway.dump());
    await f?.stop();
  });

  cardScenarios(() => ({ f, xmpp: juliet }));
});
