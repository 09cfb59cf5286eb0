/**
 * Contact cards: a Teams user's profile and photo (application, User.Read.All), and an XMPP user's card shown on
 * their account (application, User.ReadWrite.All).
 */
import { GraphError, ResponseType } from '@microsoft/microsoft-graph-client';
import { PROFILE_SELECT, type GraphProfile, type Photo } from '../protocol/vcard.js';
import { puppetProfile } from '../protocol/puppet-identity.js';
import type { GraphContext } from './graph-context.js';
import { toTeamsError } from './graph-errors.js';
import type { Puppet } from './teams-port.js';

/**
 * The photo size asked for: small enough for an XMPP avatar (XEP-0153 recommends small images). Graph serves only
 * the sizes up to the uploaded photo's ("The supported sizes of HD photos on Microsoft 365 are as follows: 48x48,
 * 64x64, 96x96, ..."), so a smaller photo answers 404 at this size and is read at its own size instead.
 */
export const AVATAR_SIZE = '96x96';

/** Types an avatar may have (XEP-0153: image/png, image/jpeg, image/gif). */
const IMAGE_TYPE = /^image\/(png|jpeg|gif)$/u;

export class GraphProfiles {
  constructor(private readonly g: GraphContext) {}

  /** https://learn.microsoft.com/en-us/graph/api/user-get (app User.Read.All); only the card's fields. */
  async userProfile(userId: string): Promise<GraphProfile> {
    return (await this.g.call('read a Teams user profile', () => this.g.clients.app().api(`/users/${encodeURIComponent(userId)}`).select(PROFILE_SELECT).get())) as GraphProfile;
  }

  /**
   * https://learn.microsoft.com/en-us/graph/api/user-update and profilephoto-update (app User.ReadWrite.All): the
   * account keeps the JID in its display name, so a Teams user always sees who is behind it.
   */
  async updatePuppetProfile(puppet: Puppet, profile: GraphProfile, photo: Photo | undefined, displayNameSuffix: string): Promise<void> {
    // The account keeps its marker and domain whatever the card says (protocol/puppet-identity.ts, issue 12).
    const body = puppetProfile(puppet.remoteJid, profile, displayNameSuffix);
    await this.g.call('update the XMPP user account profile', () => this.g.clients.app().api(`/users/${encodeURIComponent(puppet.userId)}`).patch(body));
    if (photo && (photo.type === 'image/jpeg' || photo.type === 'image/png') && photo.bytes.length <= 4 * 1024 * 1024) {
      await this.g.call('update the XMPP user account photo', () =>
        this.g.clients.app().api(`/users/${encodeURIComponent(puppet.userId)}/photo/$value`).header('Content-Type', photo.type).put(photo.bytes),
      );
    }
  }

  /**
   * https://learn.microsoft.com/en-us/graph/api/profilephoto-get: the photo at {@link AVATAR_SIZE}, or at its own
   * size when it is smaller; undefined when the user has none (404). The type is the one Graph answers with.
   */
  async userPhoto(userId: string): Promise<Photo | undefined> {
    return (await this.photoAt(userId, `/photos/${AVATAR_SIZE}/$value`)) ?? (await this.photoAt(userId, '/photo/$value'));
  }

  private async photoAt(userId: string, path: string): Promise<Photo | undefined> {
    let response: Response;
    try {
      response = (await this.g.clients.app().api(`/users/${encodeURIComponent(userId)}${path}`).responseType(ResponseType.RAW).get()) as Response;
    } catch (err) {
      throw toTeamsError(err, 'read a Teams user photo');
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const e = new GraphError(response.status, text.slice(0, 200));
      e.headers = response.headers;
      throw toTeamsError(e, 'read a Teams user photo');
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const bytes = Buffer.from(await response.arrayBuffer());
    return { type: IMAGE_TYPE.test(type) ? type : 'image/jpeg', bytes };
  }
}
