/**
 * The Microsoft identity platform endpoints MSAL (inside @azure/identity) calls with authorityHost set to the
 * emulator and instance discovery disabled:
 * - GET /{tenant}/v2.0/.well-known/openid-configuration — the discovery document; MSAL requires
 *   authorization_endpoint, token_endpoint, issuer and jwks_uri, and accepts an issuer on the authority's own
 *   origin (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri).
 * - GET /{tenant}/discovery/v2.0/keys — the signing keys.
 * - POST /{tenant}/oauth2/v2.0/token — client_credentials
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow), password (ROPC,
 *   https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth-ropc) and refresh_token
 *   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token).
 * - GET/POST /{tenant}/oauth2/v2.0/authorize and the authorization_code grant: authorize.ts.
 * - client_assertion (certificate credentials, client-assertion.ts) as well as client secrets.
 * - GET /common/discovery/instance?api-version=1.1&authorization_endpoint=... — the instance discovery MSAL makes
 *   before it trusts an authority (its production default; disableInstanceDiscovery skips it): the answer names the
 *   tenant's discovery document and the host's aliases. MSAL sends it to login.microsoftonline.com; a test routes
 *   it here.
 * One IdentityEndpoints serves one tenant; front.ts sends each request to the tenant its path names. Only tenant ids
 * are valid tenants (no domain names; "common" only for instance discovery): another is AADSTS90002.
 * Error codes and texts: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
 */
import { randomUUID } from 'node:crypto';
import { AuthorizationCodes } from './authorize.js';
import type { Directory } from './directory.js';
import { checkClientAssertion, JWT_BEARER } from './client-assertion.js';
import { aadError, type AadError } from './errors.js';
import { header, jsonReply, type Call, type Reply } from './http.js';
import type { JwtSigner } from './jwt.js';
import { resourceOfScopes, type TokenResponse, type TokenService } from './tokens.js';
import type { EmulatedApp } from './types.js';

export interface IdentityEndpointsOptions {
  readonly tenantId: string;
  readonly url: string;
  readonly apps: readonly EmulatedApp[];
  readonly directory: Directory;
  readonly tokens: TokenService;
  readonly signer: JwtSigner;
}

const NO_CACHE = { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' };

export class IdentityEndpoints {
  private readonly codes: AuthorizationCodes;

  constructor(private readonly o: IdentityEndpointsOptions) {
    this.codes = new AuthorizationCodes({ tenantId: o.tenantId, apps: o.apps, directory: o.directory, tokens: o.tokens });
  }

  /** Handles identity platform paths; undefined for anything else. */
  handle(call: Call): Reply | undefined {
    if (call.url.pathname === '/common/discovery/instance') return this.instanceDiscovery(call);
    const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|discovery\/keys|oauth2\/v2\.0\/(token|authorize|devicecode|logout))$/u.exec(
      call.url.pathname,
    );
    if (!m) return undefined;
    const tenant = decodeURIComponent(m[1] as string);
    const endpoint = m[2] as string;
    const correlationId = header(call.headers, 'client-request-id');
    const headers = { ...NO_CACHE, 'x-ms-request-id': randomUUID(), ...(correlationId ? { 'client-request-id': correlationId } : {}) };
    if (tenant.toLowerCase() !== this.o.tenantId.toLowerCase()) {
      return this.error(
        aadError(
          400,
          'invalid_tenant',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
          correlationId,
        ),
        headers,
      );
    }
    if (endpoint.endsWith('openid-configuration')) {
      return call.method === 'GET' ? jsonReply(200, this.discovery(), headers) : this.methodNotAllowed(headers);
    }
    if (endpoint.includes('keys')) return call.method === 'GET' ? jsonReply(200, this.o.signer.jwks(), headers) : this.methodNotAllowed(headers);
    if (endpoint === 'oauth2/v2.0/token') {
      if (call.method !== 'POST') return this.methodNotAllowed(headers);
      const r = this.token(call, correlationId);
      return 'access_token' in r ? jsonReply(200, r, headers) : this.error(r, headers);
    }
    if (endpoint === 'oauth2/v2.0/authorize') return this.codes.authorize(call);
    return this.error(
      aadError(400, 'unsupported_response_type', 700054, 'The emulator does not emulate this endpoint (device code, logout).', correlationId),
      headers,
    );
  }

  /** MSAL's instance discovery: the authority's metadata, for this host only (other hosts: invalid_instance). */
  private instanceDiscovery(call: Call): Reply {
    const headers = { ...NO_CACHE, 'x-ms-request-id': randomUUID() };
    if (call.method !== 'GET') return this.methodNotAllowed(headers);
    const host = new URL(this.o.url).host;
    const endpoint = call.url.searchParams.get('authorization_endpoint') ?? '';
    let asked: URL | undefined;
    try {
      asked = new URL(endpoint);
    } catch {
      asked = undefined;
    }
    if (!asked || asked.host !== host) {
      return this.error(aadError(400, 'invalid_instance', 50049, "Unknown or invalid instance.", header(call.headers, 'client-request-id')), headers);
    }
    const tenant = asked.pathname.split('/')[1] ?? 'common';
    return jsonReply(
      200,
      {
        tenant_discovery_endpoint: `${this.o.url}/${tenant}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      },
      headers,
    );
  }

  private methodNotAllowed(headers: Record<string, string>): Reply {
    return jsonReply(405, { error: 'method_not_allowed' }, headers);
  }

  private error(e: AadError, headers: Record<string, string>): Reply {
    return jsonReply(e.status, e.body, headers);
  }

  private discovery(): Record<string, unknown> {
    const base = `${this.o.url}/${this.o.tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: this.o.tokens.v2Issuer,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${this.o.url}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: new URL(this.o.url).host,
      rbac_url: 'https://pas.windows.net',
    };
  }

  /** Client id and secret from the form (client_secret_post) or from HTTP Basic (client_secret_basic). */
  private client(call: Call, form: URLSearchParams): { clientId: string | null; secret: string | null } {
    const basic = /^Basic\s+(\S+)$/iu.exec(header(call.headers, 'authorization') ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) return { clientId: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
    }
    return { clientId: form.get('client_id'), secret: form.get('client_secret') };
  }

  private token(call: Call, correlationId: string | undefined): TokenResponse | AadError {
    const form = new URLSearchParams(call.body.toString('utf8'));
    const err = (status: number, error: string, code: number, text: string) => aadError(status, error, code, text, correlationId);
    const grant = form.get('grant_type');
    if (!grant) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    const { clientId, secret } = this.client(call, form);
    if (!clientId) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const app = this.o.apps.find((a) => a.clientId.toLowerCase() === clientId.toLowerCase());
    if (!app) {
      return err(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.o.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    let assertionOk = false;
    if (form.has('client_assertion')) {
      if (form.get('client_assertion_type') !== JWT_BEARER) {
        return err(400, 'invalid_request', 50027, `The client_assertion_type must be '${JWT_BEARER}'.`);
      }
      const check = checkClientAssertion(
        form.get('client_assertion') ?? '',
        app.clientId,
        `${this.o.url}/${this.o.tenantId}/oauth2/v2.0/token`,
        app.certificates ?? [],
        Math.floor(Date.now() / 1000),
      );
      if (!check.ok) return err(401, 'invalid_client', check.code, check.text);
      assertionOk = true;
    }
    if (secret !== null && secret !== app.clientSecret) {
      return err(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    const confidentialMissing = () =>
      err(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);

    if (grant === 'client_credentials') {
      if (secret === null && !assertionOk) return confidentialMissing();
      if (scopes.length === 0) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
      const nonDefault = scopes.find((s) => !s.toLowerCase().endsWith('/.default'));
      if (nonDefault !== undefined || scopes.length !== 1) {
        return err(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${nonDefault ?? scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      }
      return this.o.tokens.issueApp(app, (scopes[0] as string).slice(0, -'/.default'.length));
    }

    if (grant === 'password' || grant === 'refresh_token') {
      // A public client (ROPC from a device) sends no secret; Entra then requires "Allow public client flows".
      if (secret === null && !assertionOk && !app.allowPublicClient) return confidentialMissing();
      let userId: string;
      let resource: string | undefined = resourceOfScopes(scopes);
      if (grant === 'password') {
        const username = form.get('username');
        const password = form.get('password');
        if (!username) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'username'.");
        if (password === null) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'password'.");
        // A user just created through Graph is not there yet for sign-in either: Entra replicates writes
        // asynchronously (directory.ts), and the sign-in fails as for an account that does not exist (AADSTS50034
        // UserAccountNotFound, https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes) until
        // it is there. Learn gives no figure; the emulator's is userReplicationMs.
        const user = this.o.directory.byUpn(username);
        if (!user || !this.o.directory.isVisible(user)) {
          return err(
            400,
            'invalid_grant',
            50034,
            `The user account {EmailHidden} does not exist in the ${this.o.tenantId} directory. To sign into this application, the account must be added to the directory.`,
          );
        }
        if (user.password === undefined || user.password !== password) {
          return err(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.');
        }
        userId = user.id;
      } else {
        const presented = form.get('refresh_token') ?? '';
        const redeemed = this.o.tokens.redeemRefreshToken(presented, app.clientId);
        if (!redeemed) return err(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
        userId = redeemed.userId;
        resource ??= redeemed.resource;
      }
      const user = this.o.directory.byId(userId);
      if (!user) return err(400, 'invalid_grant', 50034, 'The user account does not exist in the directory.');
      if (!user.accountEnabled) return err(400, 'invalid_grant', 50057, 'The user account is disabled.');
      return this.o.tokens.issueDelegated(app, user, resource ?? 'https://graph.microsoft.com', scopes);
    }
    if (grant === 'authorization_code') {
      // Redirect URIs here are the web platform's: a web app redeems its code with its secret, whatever
      // "Allow public client flows" says.
      if (secret === null) return confidentialMissing();
      return this.codes.redeem(app, form, err);
    }
    return err(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
  }
}
