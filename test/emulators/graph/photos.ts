/**
 * Users' profile photos (https://learn.microsoft.com/en-us/graph/api/resources/profilephoto): the bytes as uploaded,
 * their media type, and an entity tag that changes with them.
 *
 * Sizes: "The supported sizes of HD photos on Microsoft 365 are as follows: 48x48, 64x64, 96x96, 120x120, 240x240,
 * 360x360, 432x432, 504x504, and 648x648" (https://learn.microsoft.com/en-us/graph/api/profilephoto-get). The emulator
 * does not resize: every size serves the same bytes, and the metadata reports the size requested (the largest, 648x648,
 * for /photo). Graph offers only the sizes up to the uploaded photo's; here every documented size is offered whatever
 * the bytes are.
 */
import { createHash } from 'node:crypto';

export const PHOTO_SIZES = ['48x48', '64x64', '96x96', '120x120', '240x240', '360x360', '432x432', '504x504', '648x648'] as const;

export interface StoredPhoto {
  readonly bytes: Buffer;
  readonly contentType: string;
  /** '"XXXXXXXX"', the shape of Learn's example ("@odata.mediaEtag": "\"BA09D118\""). */
  readonly etag: string;
}

export class PhotoStore {
  private readonly photos = new Map<string, StoredPhoto>();
  private readonly listeners: ((userId: string) => void)[] = [];

  /** Called after a user's photo was set or removed (a profile change: change notifications). */
  onChange(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  get(userId: string): StoredPhoto | undefined {
    return this.photos.get(userId.toLowerCase());
  }

  /** `contentType` defaults to what the bytes look like (PNG, GIF, else JPEG). */
  set(userId: string, bytes: Buffer | undefined, contentType = sniff(bytes)): void {
    if (bytes === undefined) {
      this.photos.delete(userId.toLowerCase());
    } else {
      const copy = Buffer.from(bytes);
      const etag = `"${createHash('sha256').update(copy).digest('hex').slice(0, 8).toUpperCase()}"`;
      this.photos.set(userId.toLowerCase(), { bytes: copy, contentType, etag });
    }
    for (const l of this.listeners) l(userId);
  }
}

function sniff(bytes: Buffer | undefined): string {
  if (bytes?.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) return 'image/png';
  if (bytes?.subarray(0, 3).toString('latin1') === 'GIF') return 'image/gif';
  return 'image/jpeg';
}

/** A documented size ("96x96"), case-insensitively ("96X96" as Learn's team example spells it); undefined otherwise. */
export function photoSize(raw: string): { id: string; width: number; height: number } | undefined {
  const id = PHOTO_SIZES.find((s) => s === raw.toLowerCase());
  if (!id) return undefined;
  const [w, h] = id.split('x').map(Number) as [number, number];
  return { id, width: w, height: h };
}
