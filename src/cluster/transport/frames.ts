/**
 * Framing of the node-to-node protocol: each message is a 4-byte big-endian length and that many bytes of UTF-8
 * JSON. A reader takes the bytes as they arrive and hands out whole messages; a frame larger than the limit (a
 * peer gone wrong, or not a peer at all) ends the connection before it costs memory.
 */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function encodeFrame(message: unknown): Buffer {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json, 'utf8');
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;

  /** `maxBytes` may be lowered later (it is small until the peer has authenticated). */
  constructor(public maxBytes: number) {}

  /** The whole messages that `chunk` completes; throws FrameError on an oversized frame or bad JSON. */
  push(chunk: Buffer): unknown[] {
    this.buffered.push(chunk);
    this.size += chunk.length;
    if (this.size < 4) return [];
    let data = this.buffered.length === 1 ? (this.buffered[0] as Buffer) : Buffer.concat(this.buffered, this.size);
    const out: unknown[] = [];
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset);
      if (length > this.maxBytes) throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxBytes}`);
      if (data.length - offset - 4 < length) break;
      const text = data.toString('utf8', offset + 4, offset + 4 + length);
      offset += 4 + length;
      try {
        out.push(JSON.parse(text));
      } catch {
        throw new FrameError('frame is not JSON');
      }
    }
    data = offset === data.length ? Buffer.alloc(0) : data.subarray(offset);
    this.buffered = data.length > 0 ? [data] : [];
    this.size = data.length;
    return out;
  }
}
