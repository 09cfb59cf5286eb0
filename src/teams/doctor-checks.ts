/**
 * The checks `xmpp-teams-gateway doctor` runs against a real tenant before go-live (docs/teams-identity.md): each
 * one a line, pass or fail, and for a failure the fix. Nothing here changes the tenant but the test subscription,
 * deleted at once.
 */
import { ClientCertificateCredential, ClientSecretCredential, UsernamePasswordCredential, type TokenCredential } from '@azure/identity';
import { puppetPassword, puppetUpn } from '../protocol/puppet-identity.js';
import type { TenantConfig } from '../config/load.js';
import { graphScope } from './graph-client.js';

/** docs/teams-identity.md, section 3: what an administrator grants the app. */
export const REQUIRED_APPLICATION_PERMISSIONS = ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.Read.All'] as const;
export const REQUIRED_DELEGATED_PERMISSIONS = ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.ReadWrite', 'Presence.Read.All', 'Presence.ReadWrite'] as const;
/** docs/teams-identity.md: "Permissions the gateway must not be given". */
export const FORBIDDEN_APPLICATION_PERMISSIONS = ['Presence.ReadWrite.All', 'Chat.Read.All', 'Chat.ReadWrite.All', 'Chat.Create', 'Teamwork.Migrate.All'] as const;
/** Tokens and Graph's validation tokens tolerate five minutes of clock skew. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do about a failure. */
  readonly fix?: string;
}

export interface DoctorOptions {
  /** The tenant checked (doctor checks each tenant on its own, with its own credentials). */
  readonly tenant: TenantConfig;
  /** An XMPP user (bare JID) whose account signs in; default: the first account in the puppet group. */
  readonly puppetJid?: string | undefined;
  /** Answers Graph's validation request while the check runs (the gateway's webhook when it is not running). */
  readonly withWebhook: <T>(run: () => Promise<T>) => Promise<T>;
  readonly now?: () => number;
}

interface GraphAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly date: string | null;
}

function claims(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The AADSTS code and first sentence of an @azure/identity failure. */
function signInFailure(err: unknown): { code: number | undefined; text: string } {
  const e = err as { message?: string; errorResponse?: { errorDescription?: string; errorCodes?: number[] } };
  const text = e.errorResponse?.errorDescription ?? e.message ?? String(err);
  const code = e.errorResponse?.errorCodes?.[0] ?? Number(/AADSTS(\d+)/u.exec(text)?.[1] ?? Number.NaN);
  return { code: Number.isFinite(code) ? code : undefined, text: text.split(/\r?\n/u)[0]?.slice(0, 200) ?? '' };
}

export async function runDoctorChecks(o: DoctorOptions): Promise<CheckResult[]> {
  const c = o.tenant;
  const now = o.now ?? Date.now;
  const t = c.teams;
  // A deployment with SfB Server only (issue 17) makes no Graph call: there is nothing of Microsoft 365 to check.
  if (!t) return [{ name: 'microsoft 365', ok: true, detail: 'no teams configuration (Skype for Business Server only): no Graph check' }];
  const scope = graphScope(t);
  const graph = `${t.graphBaseUrl.replace(/\/+$/u, '')}/v1.0`;
  const results: CheckResult[] = [];
  const pass = (name: string, detail: string) => results.push({ name, ok: true, detail });
  const fail = (name: string, detail: string, fix: string) => results.push({ name, ok: false, detail, fix });

  const call = async (token: string, method: string, path: string, body?: unknown): Promise<GraphAnswer> => {
    const res = await fetch(`${graph}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, date: res.headers.get('date') };
  };
  const errorText = (a: GraphAnswer) => {
    const e = a.body.error as { code?: string; message?: string } | undefined;
    return `HTTP ${a.status}${e?.code ? ` ${e.code}` : ''}${e?.message ? `: ${e.message}` : ''}`;
  };

  // 1. Application token.
  const common = { authorityHost: t.authorityHost, disableInstanceDiscovery: t.disableInstanceDiscovery };
  const appCredential: TokenCredential = t.clientSecret
    ? new ClientSecretCredential(t.tenantId, t.clientId, t.clientSecret.reveal(), common)
    : new ClientCertificateCredential(t.tenantId, t.clientId, { certificatePath: t.clientCertificatePath ?? '' }, common);
  let appToken: string | undefined;
  try {
    appToken = (await appCredential.getToken(scope))?.token;
    if (!appToken) throw new Error("no token");
    pass('app-token', `the application ${t.clientId} signs in to tenant ${t.tenantId}`);
  } catch (err) {
    const f = signInFailure(err);
    fail(
      'app-token',
      f.text,
      f.code === 7000215 || f.code === 700027
        ? 'the client secret or certificate is not the one registered on the app: update teams.clientSecret / teams.clientCertificatePath, or add it under Certificates & secrets'
        : 'check teams.tenantId, teams.clientId and teams.authorityHost against the app registration',
    );
  }

  // 2. Application permissions, from the token's roles claim (what an admin consented to).
  if (appToken) {
    const roles = new Set(((claims(appToken).roles as string[] | undefined) ?? []).map((r) => r.toLowerCase()));
    const missing = REQUIRED_APPLICATION_PERMISSIONS.filter((p) => !roles.has(p.toLowerCase()));
    const excess = FORBIDDEN_APPLICATION_PERMISSIONS.filter((p) => roles.has(p.toLowerCase()));
    if (missing.length > 0) {
      fail('app-permissions', `application permissions not granted: ${missing.join(', ')}`, `add them under API permissions (Microsoft Graph, Application) and grant admin consent`);
    } else if (excess.length > 0) {
      fail('app-permissions', `the app holds permissions it must not have: ${excess.join(', ')}`, 'remove them from API permissions (docs/teams-identity.md lists why)');
    } else {
      pass('app-permissions', `granted: ${REQUIRED_APPLICATION_PERMISSIONS.join(', ')}`);
    }
  } else {
    fail('app-permissions', 'not checked: no application token', 'fix app-token first');
  }

  // 3. Clock skew, from the Date header of a Graph answer.
  let dateHeader: string | null = null;
  try {
    const r = await fetch(`${graph}/$metadata`, { method: 'HEAD' });
    dateHeader = r.headers.get('date');
  } catch {
    dateHeader = null;
  }
  if (dateHeader && !Number.isNaN(Date.parse(dateHeader))) {
    const skew = now() - Date.parse(dateHeader);
    // Date has a one-second resolution.
    if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
      fail('clock', `this host's clock is ${Math.round(skew / 1000)} s off Graph's`, 'synchronise the clock (NTP): tokens and notification validation tokens tolerate 5 minutes');
    } else {
      pass('clock', `within ${Math.max(1, Math.ceil(Math.abs(skew) / 1000))} s of Graph's clock`);
    }
  } else {
    fail('clock', `Graph at ${graph} did not answer with a Date header`, 'check teams.graphBaseUrl and the network path to Graph');
  }

  // 4. The puppet group.
  const groupId = t.puppets.groupId;
  if (!groupId) {
    fail('puppet-group', 'teams.puppets.groupId is not set', 'create an assigned security group with a Teams licence and set teams.puppets.groupId (docs/teams-identity.md, section 5)');
  } else if (appToken) {
    const r = await call(appToken, 'GET', `/groups/${encodeURIComponent(groupId)}/members?$select=id,userPrincipalName&$top=999`);
    if (r.status === 200) pass('puppet-group', `group ${groupId} exists (${((r.body.value as unknown[]) ?? []).length} members)`);
    else fail('puppet-group', `group ${groupId}: ${errorText(r)}`, 'check teams.puppets.groupId: the id of an assigned security group in this tenant');
  }

  // 5. The XMPP user's account to sign in with: --puppet, else the first account of the group.
  let puppet: { id: string; upn: string } | undefined;
  if (appToken) {
    if (o.puppetJid) {
      const upn = puppetUpn(o.puppetJid, t.puppets.upnDomain);
      const found = await call(appToken, 'GET', `/users/${encodeURIComponent(upn)}?$select=id,userPrincipalName`);
      if (found.status === 200) puppet = { id: String(found.body.id), upn };
      else fail('puppet-account', `${upn}: ${errorText(found)}`, 'let the XMPP user write through the gateway once (it creates the account), then run doctor again');
    } else if (groupId) {
      const r = await call(appToken, 'GET', `/groups/${encodeURIComponent(groupId)}/members?$select=id,userPrincipalName&$top=999`);
      const domain = `@${t.puppets.upnDomain.toLowerCase()}`;
      const m = ((r.body.value as { id: string; userPrincipalName?: string }[] | undefined) ?? []).find((u) => u.userPrincipalName?.toLowerCase().endsWith(domain));
      if (m?.userPrincipalName) puppet = { id: m.id, upn: m.userPrincipalName };
    }
  }
  if (!puppet && !results.some((r) => r.name === 'puppet-account')) {
    fail('puppet-account', 'no XMPP user account exists yet to sign in with', 'run `doctor --puppet someone@partner.example` with the JID of an XMPP user who has written through the gateway');
  }

  // 6. Public client flows, sign-in, delegated consent: one ROPC sign-in of that account.
  let puppetToken: string | undefined;
  if (puppet) {
    try {
      const credential = new UsernamePasswordCredential(t.tenantId, t.clientId, puppet.upn, puppetPassword(t.puppets.passwordSecret.reveal(), puppet.upn), common);
      puppetToken = (await credential.getToken(scope)).token;
      pass('public-client', 'public client flows are allowed (ROPC)');
      pass('puppet-sign-in', `${puppet.upn} signed in`);
    } catch (err) {
      const f = signInFailure(err);
      if (f.code === 7000218) {
        fail('public-client', f.text, "set 'Allow public client flows' to Yes under the app registration's Authentication");
      } else {
        pass('public-client', 'public client flows are allowed (ROPC)');
        const fix =
          f.code === 50126
            ? 'the account password is not the one derived from teams.puppets.passwordSecret: was the secret changed? (docs/teams-identity.md, "Passwords and rotation")'
            : f.code === 65001
              ? 'grant admin consent for the delegated permissions (API permissions > Grant admin consent)'
              : f.code === 50076 || f.code === 50079 || f.code === 53003
                ? 'a Conditional Access policy or MFA requirement blocks the account: exclude the puppet group (docs/teams-identity.md, section 5)'
                : 'see the AADSTS code in https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes';
        fail('puppet-sign-in', `${puppet.upn}: ${f.text}`, fix);
      }
    }
  }
  if (puppetToken) {
    const scp = new Set(String(claims(puppetToken).scp ?? '').split(' ').map((s) => s.toLowerCase()));
    const missing = REQUIRED_DELEGATED_PERMISSIONS.filter((p) => !scp.has(p.toLowerCase()));
    if (missing.length > 0) fail('delegated-permissions', `not consented for the tenant: ${missing.join(', ')}`, 'add them under API permissions (Microsoft Graph, Delegated) and grant admin consent');
    else pass('delegated-permissions', `consented: ${REQUIRED_DELEGATED_PERMISSIONS.join(', ')}`);

    // 7. The puppet domain: verified and managed (ROPC does not work for federated domains).
    const org = await call(puppetToken, 'GET', '/organization?$select=id,verifiedDomains');
    const domains = ((org.body.value as { verifiedDomains?: { name: string; type: string }[] }[] | undefined)?.[0]?.verifiedDomains ?? []).map((d) => ({ name: d.name.toLowerCase(), type: d.type }));
    const d = domains.find((x) => x.name === t.puppets.upnDomain.toLowerCase());
    if (org.status !== 200) fail('puppet-domain', `could not read the organization: ${errorText(org)}`, 'the delegated User.Read permission lets an account read its organization: grant it');
    else if (!d) fail('puppet-domain', `${t.puppets.upnDomain} is not a verified domain of the tenant`, 'add and verify it in Entra ID (Custom domain names), then set teams.puppets.upnDomain');
    else if (d.type.toLowerCase() !== 'managed') fail('puppet-domain', `${t.puppets.upnDomain} is ${d.type}`, 'use a managed (cloud-only) domain: ROPC does not work for federated domains');
    else pass('puppet-domain', `${t.puppets.upnDomain} is verified and managed`);
  } else if (puppet) {
    fail('delegated-permissions', 'not checked: the account could not sign in', 'fix puppet-sign-in first');
    fail('puppet-domain', 'not checked: the account could not sign in', 'fix puppet-sign-in first');
  }

  // 8. The account's Teams licence (through the group).
  if (puppet && appToken) {
    const r = await call(appToken, 'GET', `/users/${encodeURIComponent(puppet.id)}/licenseDetails`);
    const plans = ((r.body.value as { servicePlans?: { servicePlanName: string; provisioningStatus: string }[] }[] | undefined) ?? []).flatMap((l) => l.servicePlans ?? []);
    const teams = plans.find((p) => /^TEAMS/u.test(p.servicePlanName) && p.provisioningStatus === 'Success');
    if (r.status !== 200) fail('puppet-licence', `${puppet.upn}: ${errorText(r)}`, 'the app needs User.Read.All (or User.ReadWrite.All) to read licences');
    else if (!teams) fail('puppet-licence', `${puppet.upn} holds no active Microsoft Teams licence`, `assign a licence with Microsoft Teams to the group ${groupId ?? '(teams.puppets.groupId)'}; group-based licensing takes a few minutes`);
    else pass('puppet-licence', `${puppet.upn} holds Microsoft Teams (${teams.servicePlanName})`);
  }

  // 9. The webhook, as Graph reaches it: a test subscription (Graph runs the validation handshake), then deleted.
  if (appToken) {
    const token = appToken;
    const r = await o.withWebhook(() =>
      call(token, 'POST', '/subscriptions', {
        changeType: 'updated',
        notificationUrl: t.webhook.publicUrl,
        resource: 'users',
        expirationDateTime: new Date(now() + 10 * 60_000).toISOString(),
        clientState: 'xtg-doctor',
      }),
    );
    if (r.status === 201 && typeof r.body.id === 'string') {
      await call(token, 'DELETE', `/subscriptions/${encodeURIComponent(r.body.id)}`);
      pass('webhook', `Graph validated ${t.webhook.publicUrl}`);
    } else {
      fail('webhook', `Graph could not validate ${t.webhook.publicUrl}: ${errorText(r)}`, 'make teams.webhook.publicUrl reachable from the internet over HTTPS (reverse proxy to teams.webhook.listen)');
    }
  }
  return results;
}

/** One line per check: PASS/FAIL, its name, what was found, and for a failure the fix. */
export function formatResults(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results.map((r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.detail}${r.ok ? '' : ` -- fix: ${r.fix ?? ''}`}`).join('\n');
}
