/**
 * The emulator's image codec for profile photos: decodes JPEG and PNG, crops to a centred square and scales down to
 * the HD photo sizes Graph serves (photos.ts), and encodes the result in the photo's own format.
 * Pure JavaScript on purpose (jpeg-js, pngjs: no native module, no prebuilt binary): the emulator runs wherever the
 * tests do. Scaling is an area average (each output pixel the mean of the source pixels it covers), good enough for a
 * thumbnail; what Exchange's own resampler does is not documented.
 * What a photo may cost is bounded before it is decoded: at most {@link MAX_PIXELS} pixels (Graph takes at most
 * 4 MB of bytes, which a JPEG can inflate far beyond).
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export type PhotoType = 'image/jpeg' | 'image/png';

/** Decoded pixels, 4 bytes (RGBA) each, row by row. */
export interface Raster {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/** The largest photo the emulator decodes: 25 megapixels (a 5,000 x 5,000 image). */
export const MAX_PIXELS = 25_000_000;
/** Quality of the JPEG renditions (jpeg-js's scale, 1-100). */
const JPEG_QUALITY = 90;

/** A photo the emulator cannot read: not a JPEG or PNG, damaged, or too large. */
export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** The format the bytes are in, from their signature; undefined for anything but JPEG and PNG. */
export function imageType(bytes: Buffer): PhotoType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  return undefined;
}

export function decodeImage(bytes: Buffer): Raster & { readonly type: PhotoType } {
  const type = imageType(bytes);
  if (!type) throw new ImageError('the photo is neither a JPEG nor a PNG image');
  try {
    if (type === 'image/png') {
      // IHDR comes first: width and height at bytes 16-23, checked before inflating anything.
      if (bytes.length < 24 || bytes.readUInt32BE(16) * bytes.readUInt32BE(20) > MAX_PIXELS) throw new ImageError(`the PNG image is larger than ${MAX_PIXELS} pixels`);
      const png = PNG.sync.read(bytes);
      return { type, width: png.width, height: png.height, data: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1_000_000, maxMemoryUsageInMB: 256 });
    if (!(img.width > 0 && img.height > 0)) throw new ImageError('the JPEG image cannot be decoded: it has no frame');
    return { type, width: img.width, height: img.height, data: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength) };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(`the ${type === 'image/png' ? 'PNG' : 'JPEG'} image cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function encodeImage(r: Raster, type: PhotoType): Buffer {
  if (type === 'image/jpeg') return jpeg.encode({ width: r.width, height: r.height, data: r.data }, JPEG_QUALITY).data;
  const png = new PNG({ width: r.width, height: r.height });
  r.data.copy(png.data);
  return PNG.sync.write(png);
}

/** The centred square of the image, scaled down to side x side (side at most the image's shorter side). */
export function squareThumbnail(r: Raster, side: number): Raster {
  const crop = Math.min(r.width, r.height);
  if (side < 1 || side > crop) throw new RangeError(`cannot make a ${side}x${side} thumbnail of a ${r.width}x${r.height} image`);
  const left = Math.floor((r.width - crop) / 2);
  const top = Math.floor((r.height - crop) / 2);
  const out = Buffer.alloc(side * side * 4);
  const span = (i: number): [number, number] => {
    const from = Math.floor((i * crop) / side);
    return [from, Math.max(from + 1, Math.floor(((i + 1) * crop) / side))];
  };
  for (let y = 0; y < side; y++) {
    const [y0, y1] = span(y);
    for (let x = 0; x < side; x++) {
      const [x0, x1] = span(x);
      const sum = [0, 0, 0, 0];
      for (let sy = y0; sy < y1; sy++) {
        let at = ((top + sy) * r.width + left + x0) * 4;
        for (let sx = x0; sx < x1; sx++, at += 4) for (let c = 0; c < 4; c++) sum[c] = (sum[c] as number) + (r.data[at + c] as number);
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * side + x) * 4;
      for (let c = 0; c < 4; c++) out[o + c] = Math.round((sum[c] as number) / n);
    }
  }
  return { width: side, height: side, data: out };
}

/**
 * A test image of one colour (or, with `to`, a left-to-right gradient), encoded as `type`: real bytes where a test
 * needs a photo Graph (and the emulator) can decode.
 */
export function testImage(width: number, height: number, type: PhotoType, from: readonly [number, number, number], to = from): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = width > 1 ? x / (width - 1) : 0;
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[o + c] = Math.round((from[c] as number) + ((to[c] as number) - (from[c] as number)) * t);
      data[o + 3] = 255;
    }
  }
  return encodeImage({ width, height, data }, type);
}
