/**
 * Photos crossing between XMPP (vCard PHOTO, XEP-0153 avatar hash) and SfB (a contact card pointing at a web
 * address). Pure functions: what an image is, and the address under which the gateway serves an XMPP user's photo.
 */
export type ImageType = 'image/jpeg' | 'image/png' | 'image/gif';

/**
 * The image type by its leading bytes (JPEG SOI FF D8 FF, PNG signature, GIF87a/GIF89a). Whatever else is not a
 * photo: a web address in a contact card could name any resource, and only an image may reach the other side.
 */
export function imageTypeOf(bytes: Buffer): ImageType | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  const head = bytes.subarray(0, 6).toString('latin1');
  if (head === 'GIF87a' || head === 'GIF89a') return 'image/gif';
  return undefined;
}

const PHOTO_PATH = /^\/sfb\/photos\/([^/]+)\/([0-9a-f]{40})$/u;

/**
 * The path of an XMPP user's photo on the gateway's photo server: the bare JID and the image's SHA-1 (XEP-0153
 * §4.1 hash). A new photo is a new address, so SfB clients, which cache a photo by its contactCard hash, fetch it.
 */
export function photoPath(bareJid: string, sha1: string): string {
  return `/sfb/photos/${encodeURIComponent(bareJid)}/${sha1}`;
}

/** The web address of that photo under the photo server's public base URL (https://host:port, no path). */
export function photoUrl(baseUrl: string, bareJid: string, sha1: string): string {
  return `${baseUrl.replace(/\/+$/u, '')}${photoPath(bareJid, sha1)}`;
}

/** The JID and SHA-1 a photo path names; undefined for anything else. */
export function parsePhotoPath(path: string): { jid: string; sha1: string } | undefined {
  const m = PHOTO_PATH.exec(path);
  if (!m?.[1] || !m[2]) return undefined;
  try {
    const jid = decodeURIComponent(m[1]);
    return /^[^@/\s]+@[^@/\s]+$/u.test(jid) ? { jid, sha1: m[2] } : undefined;
  } catch {
    return undefined;
  }
}
