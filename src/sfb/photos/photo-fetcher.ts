/**
 * Fetches the photo an SfB contact card points at, as an SfB client does ([MS-PRES] §7.3: the uri in
 * the contact card category, fetched when the photo is shown). The address is chosen by an internal user and the
 * result goes to a federated XMPP user, so the fetch is bounded and checked: http(s) only, a few redirects, a
 * time limit, a size limit counted while reading, and the bytes must be a JPEG, PNG or GIF image (nothing else a
 * URL could name, such as an intranet page, crosses to XMPP).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Photo } from '../../protocol/vcard.js';
import { imageTypeOf } from '../protocol/photo.js';
import { readBody } from '../../http/read-body.js';

export class PhotoFetchError extends Error {
  constructor(
    message: string,
    /** Worth trying again later (a timeout, a 5xx), not a photo that will never do (too large, not an image). */
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'PhotoFetchError';
  }
}

export interface PhotoFetchOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
  /** CA certificates of the organisation (sfb.tls.caFile), trusted beside the public roots. */
  readonly ca?: string | undefined;
}

const MAX_REDIRECTS = 3;

export async function fetchPhoto(url: string, o: PhotoFetchOptions): Promise<Photo> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await get(current, o);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      current = new URL(location, current).toString();
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new PhotoFetchError(`HTTP ${status}`, status >= 500 || status === 429 || status === 408);
    }
    const bytes = await readBounded(res, o.maxBytes);
    const type = imageTypeOf(bytes);
    if (!type) throw new PhotoFetchError('not a JPEG, PNG or GIF image', false);
    return { type, bytes };
  }
  throw new PhotoFetchError(`more than ${MAX_REDIRECTS} redirects`, false);
}

function get(url: string, o: PhotoFetchOptions): Promise<IncomingMessage> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new PhotoFetchError('not a URL', false));
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return Promise.reject(new PhotoFetchError(`${u.protocol} is not http(s)`, false));
  return new Promise((resolve, reject) => {
    const options = { method: 'GET', headers: { Accept: 'image/jpeg, image/png, image/gif' }, timeout: o.timeoutMs };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { ...options, ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}) }, resolve)
        : httpRequest(u, options, resolve);
    const timer = setTimeout(() => req.destroy(new PhotoFetchError(`no answer in ${o.timeoutMs} ms`, true)), o.timeoutMs);
    req.on('response', (res) => res.on('close', () => clearTimeout(timer)));
    req.on('timeout', () => req.destroy(new PhotoFetchError(`no answer in ${o.timeoutMs} ms`, true)));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof PhotoFetchError ? err : new PhotoFetchError(err.message, true));
    });
    req.end();
  });
}

/** The body up to maxBytes (src/http/read-body.ts: by Content-Length or as it arrives); larger is a final failure. */
async function readBounded(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  let body: Buffer | undefined;
  try {
    body = await readBody(res, maxBytes);
  } catch (err) {
    throw new PhotoFetchError(err instanceof Error ? err.message : String(err), true);
  }
  if (!body) {
    res.destroy(); // not drained: a declared size over the limit is not read at all
    throw new PhotoFetchError(`photo over ${maxBytes} bytes`, false);
  }
  return body;
}
