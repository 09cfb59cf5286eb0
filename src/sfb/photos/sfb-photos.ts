/**
 * Photos on contact cards, both ways, for one node (issue 17, docs/sfb.md "Photos"):
 * - SfB -> XMPP: an SfB contact card points at a web address ([MS-PRES] §7.3 contactCard/photo); the node fetches
 *   the image once per (hash, address) and puts it in the vCard PHOTO (XEP-0054 §3.1.1) and its SHA-1 in presence
 *   (XEP-0153 §4.1);
 * - XMPP -> SfB: an XMPP user's vCard PHOTO is served by the node's photo server at an address naming her bare JID
 *   and the image's SHA-1, and that address goes in the contactCard SfB watchers see.
 * Every cost a sender can raise is bounded: image size, cache bytes, fetches in flight, and a memory of recent
 * misses so one bad address or JID is not asked again and again.
 */
import xml, { type Element } from '@xmpp/xml';
import { NS } from '../../protocol/namespaces.js';
import { avatarHash, vcardTempToProfile, type Photo } from '../../protocol/vcard.js';
import { errorMessage, type Logger } from '../../observability/logger.js';
import type { SfbPhotoRef } from '../protocol/categories.js';
import { imageTypeOf, parsePhotoPath, photoUrl } from '../protocol/photo.js';
import { PhotoCache, RecentMisses } from './photo-cache.js';
import { fetchPhoto, PhotoFetchError } from './photo-fetcher.js';

/** A photo that could not be had is not asked for again for this long. */
export const PHOTO_MISS_TTL_MS = 5 * 60_000;
/** Misses remembered at once (the oldest are forgotten first). */
export const MAX_PHOTO_MISSES = 10_000;
/** Photo fetches (web addresses of SfB cards, vCards of XMPP users) in flight at once on a node. */
export const MAX_PHOTO_FETCHES = 8;
/**
 * vCard reads the photo server may cause per minute on a node: whoever reaches its port can name any JID, and each
 * unknown one costs an iq to that JID's server (over S2S), so the rate is capped before it is spent.
 */
export const MAX_PHOTO_VCARD_READS_PER_MINUTE = 120;

export class PhotoServerBusyError extends Error {
  constructor() {
    super('too many photo fetches now');
    this.name = 'PhotoServerBusyError';
  }
}

export interface SfbPhotosOptions {
  readonly maxBytes: number;
  readonly fetchTimeoutMs: number;
  readonly cacheBytes: number;
  /** The organisation's CA (sfb.tls.caFile), trusted beside the public roots for SfB photo addresses. */
  readonly ca: string | undefined;
  /** https://host:port the SfB clients reach the photo server at; undefined: XMPP photos are not offered to SfB. */
  readonly publicUrl: () => string | undefined;
  /** The XMPP user's vcard-temp (XEP-0054 §3.1), asked over the XMPP link; undefined when she has none. */
  readonly readVcard: (bareJid: string) => Promise<Element | undefined>;
  readonly log: Logger;
  readonly now?: () => number;
  /** Default MAX_PHOTO_VCARD_READS_PER_MINUTE (tests lower it). */
  readonly maxVcardReadsPerMinute?: number;
}

export class SfbPhotos {
  private readonly cache: PhotoCache;
  private readonly misses: RecentMisses;
  private readonly inFlight = new Map<string, Promise<Photo | undefined>>();
  private vcardReads = { windowStart: 0, count: 0 };

  constructor(private readonly o: SfbPhotosOptions) {
    this.cache = new PhotoCache(o.cacheBytes);
    this.misses = new RecentMisses(PHOTO_MISS_TTL_MS, MAX_PHOTO_MISSES, o.now);
  }

  /** SfB -> XMPP: the image an SfB contact card points at; undefined when it has none or it cannot be had now. */
  async ofSfbCard(ref: SfbPhotoRef | undefined, log: Logger): Promise<Photo | undefined> {
    if (!ref?.url) return undefined;
    const url = ref.url;
    try {
      return await this.once(`sfb|${ref.hash}|${url}`, async () => {
        try {
          return await fetchPhoto(url, { maxBytes: this.o.maxBytes, timeoutMs: this.o.fetchTimeoutMs, ca: this.o.ca });
        } catch (err) {
          // The address is chosen by an SfB user: logged without it at info (it may name an intranet page).
          log.info('SfB contact card photo not fetched', { error: errorMessage(err), transient: err instanceof PhotoFetchError ? err.transient : true });
          return undefined;
        }
      });
    } catch (err) {
      if (!(err instanceof PhotoServerBusyError)) throw err;
      log.info('SfB contact card photo not fetched now', { error: err.message });
      return undefined;
    }
  }

  /**
   * XMPP -> SfB: keeps the XMPP user's photo for the photo server and gives what her contactCard points at; undefined
   * when no photo server is configured or the photo is not a JPEG, PNG or GIF within sfb.photos.maxBytes.
   */
  publishXmpp(bareJid: string, photo: Photo | undefined): SfbPhotoRef | undefined {
    const base = this.o.publicUrl();
    if (!photo || !base || photo.bytes.length > this.o.maxBytes) return undefined;
    const type = imageTypeOf(photo.bytes);
    if (!type) return undefined;
    const sha1 = avatarHash(photo);
    this.cache.set(xmppKey(bareJid, sha1), { type, bytes: photo.bytes });
    return { url: photoUrl(base, bareJid, sha1), hash: sha1, type: 'default' };
  }

  /**
   * What the photo server answers for a request path: the photo, or undefined (404). A photo another node published
   * is read from the XMPP user's vCard and served only if it is still the image the address names (its SHA-1).
   * Throws PhotoServerBusyError when too many fetches are in flight (503).
   */
  async serve(path: string): Promise<Photo | undefined> {
    const named = parsePhotoPath(path);
    if (!named) return undefined;
    return this.once(xmppKey(named.jid, named.sha1), async () => {
      this.spendVcardRead();
      let vcard: Element | undefined;
      try {
        vcard = await this.o.readVcard(named.jid);
      } catch (err) {
        this.o.log.info('XMPP user vCard not read for the photo server', { error: errorMessage(err) });
        return undefined;
      }
      const photo = vcardTempToProfile(vcard).photo;
      if (!photo || avatarHash(photo) !== named.sha1 || photo.bytes.length > this.o.maxBytes) return undefined;
      const type = imageTypeOf(photo.bytes);
      return type ? { type, bytes: photo.bytes } : undefined;
    });
  }

  /** Counts a vCard read in the current minute; throws PhotoServerBusyError (nothing sent) past the cap. */
  private spendVcardRead(): void {
    const now = (this.o.now ?? Date.now)();
    if (now - this.vcardReads.windowStart >= 60_000) this.vcardReads = { windowStart: now, count: 0 };
    if (this.vcardReads.count >= (this.o.maxVcardReadsPerMinute ?? MAX_PHOTO_VCARD_READS_PER_MINUTE)) throw new PhotoServerBusyError();
    this.vcardReads.count++;
  }

  /** One fetch per key at a time, the answer cached (or remembered as a miss); at most MAX_PHOTO_FETCHES in flight. */
  private async once(key: string, fetch: () => Promise<Photo | undefined>): Promise<Photo | undefined> {
    const cached = this.cache.get(key);
    if (cached) return cached;
    if (this.misses.has(key)) return undefined;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    if (this.inFlight.size >= MAX_PHOTO_FETCHES) throw new PhotoServerBusyError();
    // A fetch that throws (too busy) records nothing: the key may be asked again later.
    const p = fetch().then((photo) => {
      if (photo) this.cache.set(key, photo);
      else this.misses.add(key);
      return photo;
    });
    this.inFlight.set(key, p);
    try {
      return await p;
    } finally {
      this.inFlight.delete(key);
    }
  }
}

/** XEP-0054 §3.1: the iq that asks an XMPP user's server for her vCard, from the gateway's domain. */
export function vcardRequest(componentDomain: string, bareJid: string): Element {
  return xml('iq', { type: 'get', from: componentDomain, to: bareJid }, xml('vCard', { xmlns: NS.vcardTemp }));
}

const xmppKey = (bareJid: string, sha1: string) => `xmpp|${bareJid}|${sha1}`;
