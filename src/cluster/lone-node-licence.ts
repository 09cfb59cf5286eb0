/**
 * The licence of a node that runs alone (no cluster.redis). With a valid licence file it serves under the
 * licence's terms; without one (or with one it cannot accept) it runs in evaluation mode: one node, at most
 * EVALUATION.remoteDomains remote domains and EVALUATION.accounts Teams accounts for XMPP users, said in its logs
 * and on /readyz (docs/licensing.md). A cluster always needs a licence (cluster-node.ts): evaluation mode cannot
 * span nodes.
 */
import { errorMessage, type Logger } from '../observability/logger.js';
import { loadLicence, type LicenceTerms } from './licence.js';
import { trustedLicenceKeys } from './licence-keys.js';

/** What an unlicensed node may do: enough to try the gateway with a partner or two. */
export const EVALUATION = { nodes: 1, remoteDomains: 2, accounts: 10 } as const;

export type LicenceMode =
  | { readonly mode: 'licensed'; readonly terms: LicenceTerms }
  | { readonly mode: 'evaluation'; readonly reason: string };

export interface LoneNodeLicenceOptions {
  readonly file: string | undefined;
  readonly publicKeys: readonly string[];
  /** The Entra tenant of each tenant the node serves now (tenants change at run time): the licence must cover them all. */
  readonly tenantIds: () => readonly string[];
  readonly log: Logger;
  /** The mode or the terms changed (limits must follow). */
  readonly onChange: (mode: LicenceMode) => void;
  readonly now?: () => number;
}

/** How often the licence is read again (expiry, a replaced file). */
const CHECK_MS = 60_000;

export class LoneNodeLicence {
  private current: LicenceMode = { mode: 'evaluation', reason: 'not checked yet' };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: LoneNodeLicenceOptions) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  mode(): LicenceMode {
    return this.current;
  }

  maxRemoteDomains(): number | undefined {
    return this.current.mode === 'evaluation' ? EVALUATION.remoteDomains : this.current.terms.limits?.maxRemoteDomains;
  }

  /** Teams accounts the gateway may make in all (undefined: as many as the per-domain limits allow). */
  maxAccounts(): number | undefined {
    return this.current.mode === 'evaluation' ? EVALUATION.accounts : undefined;
  }

  /** For /healthz and /readyz. */
  view(): Record<string, unknown> {
    const c = this.current;
    if (c.mode === 'licensed') {
      return { mode: 'licensed', licenceId: c.terms.id, licensee: c.terms.licensee, expiresAt: c.terms.expiresAt, maxRemoteDomains: c.terms.limits?.maxRemoteDomains };
    }
    return { mode: 'evaluation', reason: c.reason, limits: { ...EVALUATION } };
  }

  check(): void {
    const before = this.current;
    let next: LicenceMode;
    try {
      const verdict = loadLicence(this.o.file, trustedLicenceKeys(this.o.publicKeys), (this.o.now ?? Date.now)(), this.o.tenantIds());
      next = verdict.ok ? { mode: 'licensed', terms: verdict.terms } : { mode: 'evaluation', reason: `licence ${verdict.problem}: ${verdict.detail}` };
    } catch (err) {
      next = { mode: 'evaluation', reason: `licence keys: ${errorMessage(err)}` };
    }
    const changed = next.mode !== before.mode || (next.mode === 'licensed' && before.mode === 'licensed' && next.terms.id !== before.terms.id) || (next.mode === 'evaluation' && before.mode === 'evaluation' && next.reason !== before.reason);
    this.current = next;
    if (!changed) return;
    if (next.mode === 'evaluation') {
      const log = this.o.file === undefined ? this.o.log.warn.bind(this.o.log) : this.o.log.error.bind(this.o.log);
      log('EVALUATION MODE: this node runs without a licence, with evaluation limits (docs/licensing.md)', {
        reason: next.reason,
        maxNodes: EVALUATION.nodes,
        maxRemoteDomains: EVALUATION.remoteDomains,
        maxAccounts: EVALUATION.accounts,
      });
    } else {
      this.o.log.info('licensed', { licenceId: next.terms.id, licensee: next.terms.licensee, expiresAt: next.terms.expiresAt });
    }
    this.o.onChange(next);
  }
}
