/** The API's answers as the pages read them (the server's types are in src/console/*.ts). */
export interface SessionInfo {
  readonly actor: string;
  readonly name: string;
  readonly via: 'token' | 'oidc';
  readonly expiresAt: number;
  readonly csrfToken: string;
  readonly node: string;
  readonly clustered: boolean;
  readonly keepBodies: boolean;
  /** Issue 16: the tenant a tenant's own admin token is limited to (null: the operator, every tenant). */
  readonly tenant: string | null;
  /** The tenants this session may choose between. */
  readonly tenants: readonly string[];
}

export interface Readiness {
  readonly ok: boolean;
  readonly checks: Record<string, boolean>;
  readonly problems?: Record<string, string>;
}

export interface Licence {
  readonly ok: boolean;
  readonly licenceId?: string;
  readonly licensee?: string;
  readonly expiresAt?: string;
  readonly maxNodes?: number;
  readonly maxRemoteDomains?: number;
  readonly problem?: string;
}

export interface Overview {
  readonly at: number;
  readonly clustered: boolean;
  readonly node: string;
  readonly nodes: readonly { readonly id: string; readonly self: boolean; readonly readiness?: Readiness; readonly at?: number }[];
  readonly totals: { readonly xmppToTeams: number; readonly teamsToXmpp: number; readonly deadLetters: number; readonly policyRefusals: number; readonly throttled: number; readonly webhook: Record<string, number> };
  readonly lastMinute: { readonly xmppToTeams: number; readonly teamsToXmpp: number };
  readonly series: readonly { readonly minute: number; readonly xmppToTeams: number; readonly teamsToXmpp: number }[];
  readonly licence?: Licence;
  readonly problems: readonly string[];
}

export interface NodeView {
  readonly id: string;
  readonly self: boolean;
  readonly serving: boolean;
  readonly problem?: string;
  readonly roles: readonly string[];
  readonly version: string;
  readonly actors: number;
  readonly activations: number;
  readonly licenceId?: string;
  readonly leaseMsLeft?: number;
  readonly stats?: { readonly at: number; readonly totals: { readonly placementMoves: Record<string, number> }; readonly actors: Record<string, number> };
}

export interface ClusterView {
  readonly at: number;
  readonly clustered: boolean;
  readonly node: string;
  readonly nodes: readonly NodeView[];
  readonly seats: readonly { readonly licenceId: string; readonly held: readonly string[] }[];
  readonly licence?: Licence;
  readonly problems: readonly string[];
}

export interface Snapshot {
  readonly overview: Overview;
  readonly cluster: ClusterView;
}
