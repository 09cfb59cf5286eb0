/**
 * Rendezvous (highest-random-weight) hashing (Thaler & Ravishankar, 1998): every node scores every key, and the
 * node with the highest score is the key's proposed home. When a node joins, only the keys it now wins move
 * (about 1/N of them); when one leaves, only its keys move. DESIGN.md decision 2. Pure.
 */
import { createHash } from 'node:crypto';

function score(nodeId: string, key: string): bigint {
  return createHash('sha256').update(nodeId).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The proposed home of `key` among `nodeIds`, or undefined when there is none. Ties go to the smaller id. */
export function rendezvousHome(key: string, nodeIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const id of nodeIds) {
    const s = score(id, key);
    if (s > bestScore || (s === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = s;
    }
  }
  return best;
}
