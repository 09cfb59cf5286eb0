/**
 * Contact cards of Teams users, cached (TTL) so that vCard requests and the avatar hash in presence cost Graph a
 * read per user per period, not per stanza.
 */
import { avatarHash, type GraphProfile, type Photo } from '../protocol/vcard.js';
import type { TeamsPort } from './teams-port.js';

export interface Card {
  readonly profile: GraphProfile;
  readonly photo: Photo | undefined;
  /** XEP-0153 hash of the photo; '' when there is none. */
  readonly hash: string;
}

export class ProfileCache {
  private readonly entries = new Map<string, { card: Promise<Card>; expires: number }>();

  constructor(
    private readonly teams: Pick<TeamsPort, 'userProfile' | 'userPhoto'>,
    private readonly ttlMs: number,
    private readonly withPhoto: boolean,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 20_000,
  ) {}

  /** Forgets a user's card (her profile or photo changed in Graph). */
  invalidate(userId: string): void {
    this.entries.delete(userId);
  }

  card(userId: string): Promise<Card> {
    const hit = this.entries.get(userId);
    if (hit && hit.expires > this.now()) return hit.card;
    const card = (async (): Promise<Card> => {
      const [profile, photo] = await Promise.all([this.teams.userProfile(userId), this.withPhoto ? this.teams.userPhoto(userId) : Promise.resolve(undefined)]);
      return { profile, photo, hash: avatarHash(photo) };
    })();
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(userId, { card, expires: this.now() + this.ttlMs });
    card.catch(() => this.entries.delete(userId)); // a failed read is not cached
    return card;
  }
}
