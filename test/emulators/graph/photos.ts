/**
 * Users' profile photos (https://learn.microsoft.com/en-us/graph/api/resources/profilephoto): the bytes as uploaded,
 * their media type, their dimensions, and an entity tag that changes with them.
 *
 * Sizes (https://learn.microsoft.com/en-us/graph/api/profilephoto-get): "The supported sizes of HD photos on
 * Microsoft 365 are as follows: 48x48, 64x64, 96x96, 120x120, 240x240, 360x360, 432x432, 504x504, and 648x648 [...]
 * If the size you request is not available, you can still get a smaller size that the user has uploaded and made
 * available. For example, if the user uploads a photo that is 504x504 pixels, all but the 648x648 size of photo will
 * be available for download." So a size is available when it is no larger than the photo, and each is served at
 * that size, in the photo's own format (image.ts decodes, scales and encodes JPEG and PNG; the emulator accepts no
 * other format). The emulator's choices where Learn says nothing: a photo that is not square is measured by its
 * shorter side and its centred square is served; a size equal to the photo's own is served as uploaded (no
 * re-encoding); a photo smaller than 48x48 has no HD size, and GET .../photo serves it at its own size.
 */
import { createHash } from 'node:crypto';
import { decodeImage, encodeImage, squareThumbnail, type PhotoType } from './image.js';

export const PHOTO_SIZES = ['48x48', '64x64', '96x96', '120x120', '240x240', '360x360', '432x432', '504x504', '648x648'] as const;

export interface PhotoSize {
  readonly id: string;
  readonly width: number;
  readonly height: number;
}

export interface StoredPhoto {
  readonly bytes: Buffer;
  readonly contentType: PhotoType;
  readonly width: number;
  readonly height: number;
  /** '"XXXXXXXX"', the shape of Learn's example ("@odata.mediaEtag": "\"BA09D118\""). */
  readonly etag: string;
  /** The HD sizes this photo offers, smallest first. */
  readonly sizes: readonly PhotoSize[];
  /** Scaled copies made so far, by size id. */
  readonly renditions: Map<string, Buffer>;
}

/** A documented size ("96x96"), case-insensitively ("96X96" as Learn's team example spells it); undefined otherwise. */
export function photoSize(raw: string): PhotoSize | undefined {
  const id = PHOTO_SIZES.find((s) => s === raw.toLowerCase());
  if (!id) return undefined;
  const [w, h] = id.split('x').map(Number) as [number, number];
  return { id, width: w, height: h };
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

  /** Sets (or with undefined removes) a photo; throws ImageError when the bytes are not a readable JPEG or PNG. */
  set(userId: string, bytes: Buffer | undefined): void {
    if (bytes === undefined) {
      this.photos.delete(userId.toLowerCase());
    } else {
      const copy = Buffer.from(bytes);
      const { type, width, height } = decodeImage(copy);
      const side = Math.min(width, height);
      this.photos.set(userId.toLowerCase(), {
        bytes: copy,
        contentType: type,
        width,
        height,
        etag: `"${createHash('sha256').update(copy).digest('hex').slice(0, 8).toUpperCase()}"`,
        sizes: PHOTO_SIZES.map((s) => photoSize(s) as PhotoSize).filter((s) => s.width <= side),
        renditions: new Map(),
      });
    }
    for (const l of this.listeners) l(userId);
  }

  /** The largest HD size the photo offers; undefined for a photo smaller than 48x48. */
  static largest(photo: StoredPhoto): PhotoSize | undefined {
    return photo.sizes.at(-1);
  }

  /** The photo at one of its sizes (see the header); undefined when it does not offer that size. */
  static at(photo: StoredPhoto, size: PhotoSize): Buffer | undefined {
    if (!photo.sizes.some((s) => s.id === size.id)) return undefined;
    if (photo.width === size.width && photo.height === size.height) return photo.bytes;
    let out = photo.renditions.get(size.id);
    if (!out) {
      out = encodeImage(squareThumbnail(decodeImage(photo.bytes), size.width), photo.contentType);
      photo.renditions.set(size.id, out);
    }
    return out;
  }
}
