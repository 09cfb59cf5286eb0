/**
 * The XMPP user's vCard (XEP-0054) shown on their Teams account (docs/teams-identity.md).
 */
import xml from '@xmpp/xml';
import { NS } from '../../protocol/namespaces.js';
import { vcardTempToProfile } from '../../protocol/vcard.js';
import type { Logger } from '../../observability/logger.js';
import type { PairContext } from './pair-context.js';

export class CardSync {
  /** The avatar hash (XEP-0153) of the card last read in this activation; '' when it advertised none. */
  private cardHash: string | undefined;

  constructor(private readonly c: PairContext) {}

  /**
   * The XMPP user's vCard on the account Teams users see: read once per activation and again when the presence
   * advertises a new avatar (XEP-0153). Best effort: a card that cannot be read leaves the account as it is.
   */
  async sync(advertised: string | undefined, log: Logger): Promise<void> {
    if (this.cardHash !== undefined && (advertised === undefined || advertised === this.cardHash)) return;
    this.cardHash = advertised ?? '';
    try {
      const answer = await this.c.d.xmpp.request(
        xml('iq', { type: 'get', from: this.c.d.settings.componentDomain, to: this.c.key.remoteJid }, xml('vCard', { xmlns: NS.vcardTemp })),
        5_000,
      );
      const { profile, photo } = vcardTempToProfile(answer.getChild('vCard', NS.vcardTemp));
      await this.c.d.teams.updatePuppetProfile(await this.c.ensurePuppet(), profile, photo);
      log.info('XMPP user card shown on its Teams account', { photo: photo !== undefined });
    } catch (err) {
      log.info('XMPP user card not updated', { reason: err instanceof Error ? err.message : String(err) });
    }
  }
}
