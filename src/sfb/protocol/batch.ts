/**
 * Batched presence subscriptions ([MS-SIP] §3.3.4.1 and §4.3; [MS-PRES] §2.2.2.4.1): a SUBSCRIBE with
 * `Require: adhoclist` whose body lists the resources, as `application/msrtc-adrl-categorylist+xml` (batchSub) or
 * the older `application/adrl+xml` (adhoclist). The answer is an RLMI document (RFC 4662 §5) in multipart/related,
 * piggy-backed in the 200 ([MS-SIP] §3.3.5.1), one <resource> per resource with its instance state.
 * A client sends its batch to its own home pool ([MS-SIP] §3.3.4.1: the Request-URI is the subscriber's own URI),
 * so the gateway is not expected to receive one; if one reaches it, it keeps no list subscription: each XMPP
 * resource it serves is "terminated;reason=deactivated" (RFC 6665 §4.2.2: subscribe again at once, here singly,
 * as the SfB pool itself answers a trusted application's batch), others "rejected" (the whitelist) or
 * "noresource". Pure functions.
 */
import { randomBytes } from 'node:crypto';
import { headerValues, type SipMessage } from '../sip/message.js';
import { children, child, localName, parseXml, SfbXmlError } from './xml.js';

export const BATCH_TYPE = 'application/msrtc-adrl-categorylist+xml';
export const ADRL_TYPE = 'application/adrl+xml';
export const RLMI_TYPE = 'application/rlmi+xml';

/** Resources read from one batch (a contact list; the SIP codec already bounds the body's size). */
export const MAX_BATCH_RESOURCES = 1000;

/** A batch, not a single subscription: `Require: adhoclist` ([MS-PRES] §2.2.2.4.1; RFC 5367 §3 for the list). */
export function isBatchSubscribe(m: SipMessage): boolean {
  return headerValues(m, 'Require').some((v) => v.split(',').some((t) => t.trim().toLowerCase() === 'adhoclist'));
}

/** The resource URIs a batch names (batchSub/action/adhocList/resource, or adhoclist/create/resource). */
export function readBatchResources(body: string): string[] {
  const root = parseXml(body);
  const name = localName(root.name);
  let lists: ReturnType<typeof children> = [];
  if (name === 'batchSub') lists = children(root, 'action').flatMap((a) => children(a, 'adhocList'));
  else if (name === 'adhoclist') lists = [child(root, 'create') ?? root];
  else throw new SfbXmlError(`not a batch subscription: <${root.name}>`);
  const uris = new Set<string>();
  for (const list of lists) {
    for (const r of children(list, 'resource')) {
      const uri = r.attrs.uri;
      if (typeof uri === 'string' && uri !== '') uris.add(uri);
      if (uris.size >= MAX_BATCH_RESOURCES) return [...uris];
    }
  }
  return [...uris];
}

/** What a resource of the batch gets (RFC 6665 §4.2.2 reasons): subscribe to it singly, refused, or unknown here. */
export interface ResourceAnswer {
  readonly uri: string;
  readonly reason: 'deactivated' | 'rejected' | 'noresource';
}

const esc = (s: string) => s.replace(/&/gu, '&amp;').replace(/</gu, '&lt;').replace(/"/gu, '&quot;');

/** The RLMI answer in multipart/related (RFC 4662 §5.1, RFC 2387: the root part named by `start`). */
export function batchAnswer(listUri: string, answers: readonly ResourceAnswer[]): { contentType: string; body: string } {
  const boundary = randomBytes(12).toString('hex');
  const cid = `<${randomBytes(8).toString('hex')}@gateway>`;
  const resources = answers
    .map((a, i) => {
      return `<resource uri="${esc(a.uri)}"><instance id="${i + 1}" state="terminated" reason="${a.reason}"/></resource>`;
    })
    .join('');
  const list = `<?xml version="1.0" encoding="utf-8"?><list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${esc(listUri)}" version="0" fullState="true">${resources}</list>`;
  const body = `--${boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ${cid}\r\nContent-Type: ${RLMI_TYPE}\r\n\r\n${list}\r\n--${boundary}--\r\n`;
  return { contentType: `multipart/related; type="${RLMI_TYPE}"; start="${cid}"; boundary="${boundary}"`, body };
}
