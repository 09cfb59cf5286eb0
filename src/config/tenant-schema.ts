/**
 * What belongs to one tenant (DESIGN.md decision 10): its Microsoft 365 tenant and app registration (`teams`), its
 * whitelist (`policy`), its rate limits (`throttle`), the card fields it exposes (`cards`) and optionally its Skype
 * for Business deployment (`sfb`). The single-tenant layout has these at the top level; with `tenants`, each entry
 * of the list has its own (tenants-schema.ts).
 */
import { z } from 'zod';
import { CARD_FIELDS } from '../protocol/vcard.js';
import { DEFAULT_LOOKUPS, Domain, DomainRule, HostPort, HttpsUrl, Limit, Lookups, SecretRef, UserRule } from './schema-primitives.js';

export const TeamsSchema = z
  .object({
    tenantId: z.string().min(1).describe('the Entra ID tenant (directory) id'),
    clientId: z.string().min(1).describe("the gateway's app registration (client) id"),
    clientSecret: SecretRef.optional().describe('the app registration client secret (or use clientCertificatePath)'),
    clientCertificatePath: z
      .string()
      .min(1)
      .optional()
      .describe('a PEM file with the app certificate and private key (instead of clientSecret)'),
    authorityHost: HttpsUrl.default('https://login.microsoftonline.com').describe(
      'the Entra ID authority host (sovereign clouds, or the Graph emulator)',
    ),
    graphBaseUrl: HttpsUrl.default('https://graph.microsoft.com').describe('the Microsoft Graph endpoint (without /v1.0)'),
    disableInstanceDiscovery: z
      .boolean()
      .default(false)
      .describe('skip MSAL authority instance discovery; needed for authority hosts Microsoft does not know (the emulator)'),
    defaultUpnDomain: Domain.optional().describe(
      'UPN domain whose users get short JIDs (alice@contoso.com -> alice@<xmpp.domain>); others carry their domain escaped',
    ),
    allowGuests: z
      .boolean()
      .default(false)
      .describe("let XMPP users address the tenant's guest accounts (UPNs with #EXT#); the gateway's own accounts are never addressable"),
    webhook: z
      .object({
        listen: HostPort.describe('where the change-notification receiver listens, host:port'),
        publicUrl: z
          .url({ protocol: /^https?$/u, error: 'expected an https:// URL' })
          .refine((u) => u.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/u.test(u), {
            message: 'must be https:// (plain http only on loopback, for the Graph emulator)',
          })
          .describe('the https URL Graph posts change notifications to (reaches `listen`; http only on loopback for the emulator)'),
        tls: z
          .object({
            certFile: z.string().min(1).describe('PEM certificate chain for the webhook listener'),
            keyFile: z.string().min(1).describe('PEM private key for the webhook listener'),
          })
          .strict()
          .optional()
          .describe('serve the webhook over TLS (without it, terminate TLS in front of the gateway)'),
        mediaSecret: SecretRef.optional().describe(
          'key for signing media links (Teams inline images, served under publicUrl + /media/); default: derived (HKDF) from teams.clientSecret, else teams.puppets.passwordSecret, so all nodes of a cluster share it',
        ),
        mediaLinkHours: z.number().int().min(1).max(720).default(24).describe('how long a media link to a Teams inline image works for the XMPP user'),
        maxNotificationsPerRequest: z
          .number()
          .int()
          .min(10)
          .max(20_000)
          .default(1000)
          .describe('change notifications one POST to the webhook may carry; a larger batch is refused (413) before any item is looked at'),
        lifecycleReplaySeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(60)
          .describe('a lifecycle notice (reauthorizationRequired, ...) repeated for the same subscription within this is recorded once, so a replayed notice costs at most one Graph call per period'),
        richNotifications: z
          .object({
            certificates: z
              .array(
                z
                  .object({
                    id: z.string().min(1).max(128).describe('your name for the certificate (encryptionCertificateId), at most 128 characters'),
                    certFile: z.string().min(1).describe('PEM X.509 certificate with an RSA key of 2048 to 4096 bits (self-signed is fine); Graph gets its public key'),
                    keyFile: z.string().min(1).describe('PEM private key of the certificate; decrypts what Graph sends'),
                  })
                  .strict(),
              )
              .min(1)
              .describe(
                'encryption certificates as {id, certFile, keyFile}: the first is current (new subscriptions, and existing ones as they renew); the others are still decrypted while Graph may use them (key rotation)',
              ),
          })
          .strict()
          .optional()
          .describe(
            'rich notifications: Graph sends each Teams message and presence change encrypted in its notification, instead of the gateway reading it (one Graph read less per message); without it, every notification costs a read',
          ),
      })
      .strict(),
    subscriptionMinutes: z
      .number()
      .int()
      .min(5)
      .max(4320)
      .default(4320)
      .describe(
        'lifetime requested for Graph subscriptions, capped per resource by Graph (chat messages 4320, presence 60)',
      ),
    renewBeforeMinutes: z.number().int().min(1).max(30).default(10).describe('renew a subscription this long before it expires'),
    puppets: z
      .object({
        upnDomain: Domain.describe('a verified tenant domain for the accounts that represent XMPP users in Teams'),
        passwordSecret: SecretRef.describe(
          'master secret from which each XMPP-user account password is derived (HMAC-SHA256); never stored',
        ),
        displayNameSuffix: z.string().default(' (XMPP)').describe("appended to an XMPP user's name in Teams"),
        groupId: z.string().min(1).optional().describe('Entra group the accounts are added to (licensing, Conditional Access)'),
        usageLocation: z
          .string()
          .regex(/^[A-Z]{2}$/u)
          .optional()
          .describe('two-letter country code set on new accounts (needed before a licence can be assigned)'),
        presenceSessionMinutes: z
          .number()
          .int()
          .min(5)
          .max(240)
          .default(60)
          .describe('expirationDuration of the presence session set for an XMPP user; refreshed before it lapses'),
        presenceKeepAliveSeconds: z
          .number()
          .min(1)
          .max(290)
          .default(240)
          .describe(
            "how often an XMPP user's Available presence session is set again: Graph fades it to AvailableInactive after 5 minutes without a call (15 calls per hour per online user at 240)",
          ),
        provisioningMinutes: z
          .number()
          .int()
          .min(1)
          .max(1440)
          .default(15)
          .describe(
            "how long a new XMPP user's account may lack its Teams licence (group-based licensing takes a while) or be missing from the directory before their messages fail with <service-unavailable/>",
          ),
      })
      .strict(),
    pacing: z
      .object({
        share: z
          .number()
          .gt(0)
          .max(1)
          .default(0.8)
          .describe("share of each documented Graph limit (throttling-limits: Teams, presence, identity) the gateway's pacing uses"),
        tenantSize: z
          .enum(['small', 'medium', 'large'])
          .default('small')
          .describe('the tenant size Graph bases its identity limits on: small under 50 users, medium 50-500, large above 500'),
        limitScale: z
          .number()
          .min(1)
          .max(1_000_000)
          .default(1)
          .describe(
            "multiplies every documented Graph limit the pacing assumes (throttle.graphRequestsPerSecond still applies); keep 1 against Microsoft Graph: above 1 only to measure a node's own capacity against the Graph emulator with its limits lifted (bench/relay.bench.ts)",
          ),
      })
      .strict()
      .default({ share: 0.8, tenantSize: 'small', limitScale: 1 }),
  })
  .strict()
  .refine((t) => (t.clientSecret === undefined) !== (t.clientCertificatePath === undefined), {
    message: 'set exactly one of teams.clientSecret and teams.clientCertificatePath',
    path: ['clientSecret'],
  });

export const PolicySchema = z
  .object({
    domains: z.array(DomainRule).default([]).describe('remote XMPP domains that may federate: exact, or *.suffix for subdomains; empty: none (deny by default)'),
    users: z.array(UserRule).default([]).describe('Teams users that may federate: UPN or object id; "*" for every user; empty: none'),
    groups: z.array(z.string().min(1)).default([]).describe('Entra group ids whose (transitive) members may federate'),
    pairing: z
      .array(
        z
          .object({
            users: z.array(UserRule).default([]).describe('Teams users (UPN or object id) the rule binds'),
            groups: z.array(z.string().min(1)).default([]).describe('Entra groups whose members the rule binds'),
            domains: z.array(DomainRule).min(1).describe('the remote domains they may talk to (and that may talk only to them)'),
          })
          .strict(),
      )
      .default([])
      .describe('optional rules: these users (or group members) may talk only to these domains, and these domains only to them'),
    groupRefreshSeconds: z.number().int().min(1).default(300).describe('how often group memberships are read again from Graph'),
    reloadSeconds: z.number().int().min(1).default(10).describe('how often the lists changed at run time (store) are re-read'),
    maxAccountsPerDomain: z
      .number()
      .int()
      .min(0)
      .default(500)
      .describe('most Teams accounts (each a paid licence) the gateway creates for the users of one remote domain; further users get <resource-constraint/>'),
  })
  .strict()
  .default({ domains: [], users: [], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10, maxAccountsPerDomain: 500 });

export const ThrottleSchema = z
  .object({
    onExceeded: z.enum(['refuse', 'queue']).default('refuse').describe('XMPP -> Teams over a limit: refuse with <resource-constraint/>, or queue (bounded)'),
    queueDepth: z.number().int().min(1).default(20).describe('messages waiting per limit when onExceeded is queue'),
    maxDelaySeconds: z.number().int().min(1).default(30).describe('longest a Teams -> XMPP message waits for its limit before the sender is told'),
    pair: Limit.default({}).describe('per user pair (Teams user and XMPP user)'),
    user: Limit.default({}).describe('per user, across all their pairs (Teams user or XMPP user)'),
    domain: Limit.default({}).describe('per remote XMPP domain'),
    graphRequestsPerSecond: z.number().positive().default(15).describe('outbound Graph message posts per second for the tenant (Graph allows 20 per app per tenant)'),
    lookups: Lookups.default(DEFAULT_LOOKUPS).describe(
      'directory lookups (GET /users) an address the gateway has not seen costs, per XMPP sender and per remote domain; over the limit the stanza gets <resource-constraint/>',
    ),
  })
  .strict()
  .default({ onExceeded: 'refuse', queueDepth: 20, maxDelaySeconds: 30, pair: {}, user: {}, domain: {}, graphRequestsPerSecond: 15, lookups: DEFAULT_LOOKUPS });

export const CardsSchema = z
  .object({
    fields: z
      .array(z.enum(CARD_FIELDS))
      .default([...CARD_FIELDS])
      .describe(`Graph profile fields a Teams user's vCard shows (${CARD_FIELDS.join(', ')}); e.g. leave out phone and mobile`),
    cacheSeconds: z.number().int().min(0).default(3600).describe('how long a Teams user card (and avatar hash) is cached'),
  })
  .strict()
  .default({ fields: [...CARD_FIELDS], cacheSeconds: 3600 });

export const SfbSchema = z
  .object({
    listen: HostPort.describe('where the trusted application listens for SIP over mutual TLS from the Front End pool, host:port (port 5061 in production)'),
    fqdn: Domain.describe("this node's FQDN as the pool knows it (Via; never an IP); its certificate must name it"),
    applicationFqdn: Domain.optional().describe('the trusted application pool FQDN (New-CsTrustedApplicationPool), put in Contact so the pool may send in-dialog requests to any node; default: fqdn'),
    tls: z
      .object({
        certFile: z.string().min(1).describe('PEM certificate chain of this node (server and client authentication)'),
        keyFile: z.string().min(1).describe('PEM private key of that certificate'),
        caFile: z.string().min(1).describe('PEM CA certificates that sign the Front End servers\' certificates'),
      })
      .strict(),
    pool: z
      .object({
        fqdn: Domain.describe('the Front End pool FQDN the gateway sends to'),
        port: z.number().int().min(1).max(65535).default(5061).describe('its SIP/TLS port'),
      })
      .strict(),
    trustedPeers: z.array(z.string().regex(/^(\*\.)?[a-z0-9.-]+$/u, 'expected a lower-case FQDN or *.domain')).min(1).describe('certificate names the gateway accepts from SfB servers: the pool and its Front End servers (exact, or *.domain)'),
    hosts: z.record(z.string(), z.string()).default({}).describe('static FQDN -> IP entries for SfB servers DNS does not resolve (labs); others go through DNS'),
    domains: z.array(Domain).default([]).describe('SIP domains whose users are all homed on SfB: they are reached through SfB, not Teams'),
    users: z.array(z.string().regex(/^[^@\s]+@[a-z0-9.-]+$/u, 'expected user@domain')).default([]).describe('SIP addresses homed on SfB although their domain is not in sfb.domains (users not yet moved to Teams)'),
    lookup: z
      .object({
        domains: z.array(Domain).default([]).describe('SIP domains shared by SfB Server and Teams users (hybrid, a migration in progress): where each user is homed is asked of the Front End pool (a one-time presence fetch), paid from the sender\'s throttle.lookups budget'),
        positiveCacheSeconds: z.number().int().min(0).max(86_400).default(900).describe('how long "homed on SfB" is remembered (a user moved to Teams is reached on SfB until it expires)'),
        negativeCacheSeconds: z.number().int().min(0).max(86_400).default(600).describe('how long "not on SfB" (Teams, or nobody) is remembered'),
        timeoutSeconds: z.number().int().min(1).max(30).default(5).describe('a lookup the pool does not answer within this gets <remote-server-timeout/> and is not remembered'),
        maxEntries: z.number().int().min(100).max(1_000_000).default(50_000).describe('addresses remembered per node (the oldest go first)'),
      })
      .strict()
      .default({ domains: [], positiveCacheSeconds: 900, negativeCacheSeconds: 600, timeoutSeconds: 5, maxEntries: 50_000 })
      .describe('homing by lookup (docs/sfb.md "Routing")'),
    defaultDomain: Domain.optional().describe('SIP domain whose users get short JIDs (carol@contoso.com -> carol@<xmpp.domain>); usually teams.defaultUpnDomain, so each internal user has one address; default: the first of sfb.domains, else the first of sfb.lookup.domains, else the domain of the first of sfb.users'),
    keepAliveSeconds: z.number().int().min(5).max(3600).default(30).describe('CRLF keep-alive ping on an idle SIP connection (RFC 5626 §3.5.1)'),
    idleConnectionSeconds: z.number().int().min(10).default(300).describe('a SIP connection that received nothing (keep-alives included) this long is closed'),
    maxMessageBytes: z.number().int().min(4096).max(1_048_576).default(65_536).describe('largest SIP message body accepted; larger ones get 513 and the connection closes'),
    maxConnections: z.number().int().min(1).default(256).describe('SIP connections accepted at once'),
    subscriptionSeconds: z.number().int().min(60).max(86_400).default(3600).describe('presence subscription lifetime the gateway asks for and grants'),
    sessionIdleSeconds: z.number().int().min(30).default(600).describe('the gateway ends an IM session idle this long with BYE, as SfB clients do'),
    photos: z
      .object({
        listen: HostPort.optional().describe("where this node serves XMPP users' photos to SfB clients over HTTPS (with the sfb.tls certificate), host:port; without it SfB users see no XMPP photo"),
        publicUrl: z.string().url().regex(/^https:\/\/[^/]+\/?$/u, 'expected https://host[:port], no path (the photo server serves /sfb/photos/...)').optional().describe('the HTTPS base URL SfB clients use for those photos (the application pool FQDN and that port, e.g. https://xmppgw.corp.example:8061); default: https://<applicationFqdn>:<listen port>'),
        maxBytes: z.number().int().min(1024).max(4_194_304).default(262_144).describe('largest photo carried either way (bytes); a larger one is left out'),
        fetchTimeoutSeconds: z.number().int().min(1).max(60).default(5).describe("time to fetch an SfB user's photo from the web address in her contact card"),
        cacheBytes: z.number().int().min(65_536).default(33_554_432).describe('photos kept in memory on each node, both ways (bytes; the least recently used go first)'),
      })
      .strict()
      .default({ maxBytes: 262_144, fetchTimeoutSeconds: 5, cacheBytes: 33_554_432 })
      .describe('photos on contact cards, both ways (docs/sfb.md)'),
  })
  .strict()
  .refine((x) => x.domains.length > 0 || x.users.length > 0 || x.lookup.domains.length > 0, { message: 'list the SfB-homed users in sfb.domains, sfb.users or sfb.lookup.domains', path: ['domains'] })
  .refine((x) => !x.lookup.domains.some((d) => x.domains.includes(d)), {
    message: 'a domain is either all on SfB (sfb.domains) or looked up user by user (sfb.lookup.domains), not both',
    path: ['lookup', 'domains'],
  });
