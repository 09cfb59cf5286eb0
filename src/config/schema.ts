/**
 * The configuration schema: one YAML or JSON file, validated at start. Every key is described here; the README's
 * configuration table and config/schema.json are generated from this schema (`npm run docs:config`), and a test
 * keeps them in step.
 */
import { z } from 'zod';
import { CARD_FIELDS } from '../protocol/vcard.js';

/** A secret: a literal string, or where to read it (an environment variable or a file), so it need not sit in the file. */
export const SecretRef = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1).describe('name of the environment variable holding the secret') }).strict(),
  z.object({ file: z.string().min(1).describe('path of a file holding the secret (trailing newline ignored)') }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRef>;

const HostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/u, 'expected host:port, e.g. 127.0.0.1:8090');

const Domain = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u, 'expected a lower-case DNS domain');

const DomainRule = z
  .string()
  .regex(/^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u, 'expected a lower-case domain or *.domain');

const UserRule = z.string().min(1);

const Limit = z
  .object({
    messagesPerSecond: z.number().positive().optional().describe('sustained messages per second'),
    messageBurst: z.number().int().min(1).optional().describe('messages allowed at once above the sustained rate'),
    bytesPerSecond: z.number().positive().optional().describe('sustained body bytes per second'),
    byteBurst: z.number().int().min(1).optional().describe('body bytes allowed at once above the sustained rate'),
  })
  .strict();

/** Lookups of addresses not in the directory cache: a budget per sender and per remote domain (issue 12 finding 6). */
const LookupBudget = z
  .object({
    perMinute: z.number().positive().describe('sustained lookups per minute'),
    burst: z.number().int().min(1).describe('lookups allowed at once above the sustained rate'),
  })
  .strict();
const DEFAULT_LOOKUPS = { sender: { perMinute: 30, burst: 10 }, domain: { perMinute: 300, burst: 50 }, negativeCacheSeconds: 600 };
const Lookups = z
  .object({
    sender: LookupBudget.default(DEFAULT_LOOKUPS.sender).describe('per XMPP user (bare JID)'),
    domain: LookupBudget.default(DEFAULT_LOOKUPS.domain).describe('per remote XMPP domain'),
    negativeCacheSeconds: z.number().int().min(0).default(600).describe('how long "no such Teams user" is remembered, so asking again costs nothing'),
  })
  .strict();

const HttpsUrl = z.url({ protocol: /^https$/u, error: 'expected an https:// URL' });

/** One actor kind's restart policy (DESIGN.md decision 3: one-for-one, N restarts in T, exponential backoff). */
const RestartOverride = z
  .object({
    maxRestarts: z.number().int().min(0).optional(),
    restartWindowSeconds: z.number().int().min(1).optional(),
    backoffInitialMs: z.number().int().min(0).optional(),
    backoffMaxMs: z.number().int().min(0).optional(),
  })
  .strict();

export const ConfigSchema = z
  .object({
    xmpp: z
      .object({
        service: z
          .url({ protocol: /^xmpp$/u, error: 'expected xmpp://host:port of the XMPP server component listener' })
          .describe("the XMPP server's XEP-0114 component listener, e.g. xmpp://127.0.0.1:5347"),
        domain: Domain.describe('the component domain the gateway serves, e.g. teams.xmpp.example'),
        password: SecretRef.describe('the component secret shared with the XMPP server'),
        maxBodyBytes: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(16_000)
          .describe('largest message body accepted from XMPP, in UTF-8 bytes; larger ones get <policy-violation/>'),
        maxStanzaBytes: z
          .number()
          .int()
          .min(16_384)
          .max(10_000_000)
          .default(262_144)
          .describe(
            'largest stanza read off the link (names, attributes and text, in UTF-8 bytes); a larger one, or one nested deeper than 32 elements or with more than 2,000, gets <policy-violation/> and is not kept',
          ),
        maxResourcesPerJid: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(16)
          .describe("resources (clients) of one XMPP user whose presence a pair keeps; presence from further resources is ignored until one goes offline"),
        reconnectDelayMs: z.number().int().min(100).default(1000).describe('delay before reconnecting a lost component link'),
        longMessages: z
          .enum(['refuse', 'split'])
          .default('refuse')
          .describe("a message too long for one Teams message (about 28 KB of HTML): refuse with <policy-violation/>, or split it into several"),
        links: z
          .enum(['one', 'every-node'])
          .default('one')
          .describe(
            "in a cluster: 'one' node holds the component link and the others send through it (Prosody accepts one connection per component); 'every-node' connects every node (ejabberd balances several)",
          ),
      })
      .strict()
      .refine((x) => x.maxBodyBytes < x.maxStanzaBytes, { message: 'must be smaller than xmpp.maxStanzaBytes', path: ['maxBodyBytes'] }),
    teams: z
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
      }),
    store: z
      .object({
        driver: z.enum(['sqlite', 'mssql']).default('sqlite').describe('sqlite: an embedded file (one host); mssql: SQL Server 2022+ or Azure SQL'),
        sqlite: z
          .object({
            path: z.string().min(1).default('./data/gateway.sqlite').describe('the SQLite database file (created if missing)'),
            synchronous: z
              .enum(['full', 'normal'])
              .default('full')
              .describe('full: every commit reaches the disk (survives power loss); normal: faster, survives process crashes only'),
            busyTimeoutMs: z.number().int().min(0).default(5000).describe("how long to wait for another process's write lock"),
            groupCommit: z.boolean().default(true).describe('messages accepted in the same instant share one commit (see npm run bench)'),
          })
          .strict()
          .default({ path: './data/gateway.sqlite', synchronous: 'full', busyTimeoutMs: 5000, groupCommit: true }),
        mssql: z
          .object({
            server: z.string().min(1).describe('SQL Server host, Azure SQL server, or availability-group listener name'),
            port: z.number().int().min(1).max(65535).default(1433).describe('TCP port'),
            database: z.string().min(1).describe('database name (created by the DBA; the gateway creates its tables)'),
            authentication: z
              .enum(['sql', 'azure-active-directory-default', 'azure-active-directory-service-principal-secret'])
              .default('sql')
              .describe('sql: user/password; azure-active-directory-*: Entra ID (Azure SQL)'),
            user: z.string().min(1).optional().describe('SQL login, or the service principal client id'),
            password: SecretRef.optional().describe('SQL login password, or the service principal secret'),
            tenantId: z.string().min(1).optional().describe('tenant of the service principal (Entra authentication)'),
            encrypt: z.boolean().default(true).describe('TLS to the server (required by Azure SQL)'),
            trustServerCertificate: z.boolean().default(false).describe('accept a server certificate not signed by a trusted CA (test only)'),
            multiSubnetFailover: z.boolean().default(false).describe('set for an availability-group listener spanning subnets'),
            poolMax: z.number().int().min(1).default(10).describe('largest connection pool per node'),
            connectionTimeoutMs: z.number().int().min(1000).default(15000).describe('connect timeout'),
            requestTimeoutMs: z.number().int().min(1000).default(15000).describe('statement timeout'),
          })
          .strict()
          .refine((m) => m.authentication === 'azure-active-directory-default' || (m.user !== undefined && m.password !== undefined), {
            message: 'this authentication needs user and password',
            path: ['user'],
          })
          .optional()
          .describe('SQL Server connection (when driver is mssql)'),
        retention: z
          .object({
            deliveredDays: z.number().min(0).default(7).describe('delivered inbox/outbox rows are deleted after this many days'),
            deadDays: z.number().min(0).default(30).describe('dead-lettered rows are deleted after this many days'),
            relayedDays: z.number().min(0).default(30).describe('ids of relayed Teams messages (redelivery dedup) are kept this long'),
            keepBodies: z.boolean().default(false).describe('keep message bodies after delivery or dead-lettering (off: data minimisation)'),
            pruneIntervalMinutes: z.number().int().min(1).default(60).describe('how often the pruning runs'),
            unusedPairDays: z
              .number()
              .min(0)
              .default(180)
              .describe('a pair (Teams user, XMPP user) with no message nor subscription change for this many days is forgotten (its subscription ends); 0 keeps pairs for ever'),
          })
          .strict()
          .default({ deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60, unusedPairDays: 180 }),
      })
      .strict()
      .refine((st) => st.driver !== 'mssql' || st.mssql !== undefined, { message: 'store.driver is mssql but store.mssql is missing', path: ['mssql'] })
      .default({
        driver: 'sqlite',
        sqlite: { path: './data/gateway.sqlite', synchronous: 'full', busyTimeoutMs: 5000, groupCommit: true },
        retention: { deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60, unusedPairDays: 180 },
      }),
    policy: z
      .object({
        domains: z.array(DomainRule).default([]).describe('remote XMPP domains that may federate: exact, or *.suffix for subdomains; empty: none (deny by default)'),
        users: z.array(UserRule).default([]).describe('Teams users that may federate: UPN or object id; "*" for every user; empty: none'),
        groups: z.array(z.string().min(1)).default([]).describe('Entra group ids whose (transitive) members may federate'),
        pairing: z
          .array(
            z
              .object({
                users: z.array(UserRule).default([]),
                groups: z.array(z.string().min(1)).default([]),
                domains: z.array(DomainRule).min(1),
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
      .default({ domains: [], users: [], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10, maxAccountsPerDomain: 500 }),
    throttle: z
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
      .default({ onExceeded: 'refuse', queueDepth: 20, maxDelaySeconds: 30, pair: {}, user: {}, domain: {}, graphRequestsPerSecond: 15, lookups: DEFAULT_LOOKUPS }),
    cards: z
      .object({
        fields: z
          .array(z.enum(CARD_FIELDS))
          .default([...CARD_FIELDS])
          .describe(`Graph profile fields a Teams user's vCard shows (${CARD_FIELDS.join(', ')}); e.g. leave out phone and mobile`),
        cacheSeconds: z.number().int().min(0).default(3600).describe('how long a Teams user card (and avatar hash) is cached'),
      })
      .strict()
      .default({ fields: [...CARD_FIELDS], cacheSeconds: 3600 }),
    // ---- Skype for Business (issue 17): the gateway as an SfB trusted application (docs/sfb-setup.md) ----
    sfb: z
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
        defaultDomain: Domain.optional().describe('SIP domain whose users get short JIDs (carol@contoso.com -> carol@<xmpp.domain>); usually teams.defaultUpnDomain, so each internal user has one address; default: the first of sfb.domains, else the domain of the first of sfb.users'),
        keepAliveSeconds: z.number().int().min(5).max(3600).default(30).describe('CRLF keep-alive ping on an idle SIP connection (RFC 5626 §3.5.1)'),
        idleConnectionSeconds: z.number().int().min(10).default(300).describe('a SIP connection that received nothing (keep-alives included) this long is closed'),
        maxMessageBytes: z.number().int().min(4096).max(1_048_576).default(65_536).describe('largest SIP message body accepted; larger ones get 513 and the connection closes'),
        maxConnections: z.number().int().min(1).default(256).describe('SIP connections accepted at once'),
        subscriptionSeconds: z.number().int().min(60).max(86_400).default(3600).describe('presence subscription lifetime the gateway asks for and grants'),
        sessionIdleSeconds: z.number().int().min(30).default(600).describe('the gateway ends an IM session idle this long with BYE, as SfB clients do'),
      })
      .strict()
      .refine((x) => x.domains.length > 0 || x.users.length > 0, { message: 'list the SfB-homed users in sfb.domains or sfb.users', path: ['domains'] })
      .optional()
      .describe('Skype for Business Server: without it the gateway serves Teams only'),
    cluster: z
      .object({
        redis: z
          .object({ url: z.string().regex(/^rediss?:\/\//u, 'expected redis:// or rediss://').describe('Redis: with it the node joins a cluster (membership, licence seats, placement, cluster-wide limits); without it the node runs alone') })
          .strict()
          .optional(),
        name: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{0,39}$/u, 'expected lower-case letters, digits and dashes')
          .default('xtg')
          .describe('prefix of every Redis key of this cluster (several clusters may share one Redis)'),
        nodeId: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/u, 'expected letters, digits, dots, dashes, underscores')
          .optional()
          .describe('this node\'s id (default: host name and a random suffix); must be unique in the cluster'),
        listen: HostPort.default('127.0.0.1:9470').describe('where this node listens for actor messages from other nodes, host:port'),
        advertiseUrl: z
          .string()
          .regex(/^https?:\/\//u, 'expected an http:// or https:// URL')
          .optional()
          .describe('how other nodes reach cluster.listen: https:// with cluster.tls, http:// without (default: <scheme>://<listen>)'),
        secret: SecretRef.optional().describe('shared secret authenticating calls between nodes (never sent: each side proves it holds it); required with cluster.redis'),
        tls: z
          .object({
            certFile: z.string().min(1).describe("this node's PEM certificate, issued by the cluster CA, naming its advertise host"),
            keyFile: z.string().min(1).describe('PEM private key of that certificate'),
            caFile: z.string().min(1).describe('PEM certificate of the cluster CA: a node accepts only peers whose certificate it issued'),
          })
          .strict()
          .optional()
          .describe('mutual TLS between nodes (TLS 1.3): messages private and untampered on a shared network; off: plain TCP'),
        leaseSeconds: z
          .number()
          .int()
          .min(2)
          .max(120)
          .default(2)
          .describe('a node that misses heartbeats this long is dead: its actors, seat and leases are taken over (failover takes this plus about 0.5 s); raise it where a node can pause longer'),
        licence: z
          .object({
            file: z
              .string()
              .min(1)
              .optional()
              .describe("path of this node's licence file (see docs/licensing.md); a node alone without one runs in evaluation mode, a cluster node serves nothing"),
            publicKeys: z
              .array(z.string().min(1))
              .default([])
              .describe("optional: trust only these of the build's licence keys (PEM texts or paths of PEM files); a key the build does not have is an error"),
          })
          .strict()
          .default({ publicKeys: [] }),
      })
      .strict()
      .refine((cl) => cl.redis === undefined || cl.secret !== undefined, { message: 'cluster.redis is set but cluster.secret is missing', path: ['secret'] })
      .refine((cl) => cl.advertiseUrl === undefined || cl.advertiseUrl.startsWith('https://') === (cl.tls !== undefined), {
        message: 'cluster.advertiseUrl must be https:// with cluster.tls (the node listens with TLS) and http:// without it',
        path: ['advertiseUrl'],
      })
      .default({ name: 'xtg', listen: '127.0.0.1:9470', leaseSeconds: 2, licence: { publicKeys: [] } }),
    admin: z
      .object({
        listen: HostPort.default('127.0.0.1:9464').describe('where /metrics, /healthz, /readyz, /cluster, the /admin API and the operator console (/console/) are served, host:port'),
        token: SecretRef.optional().describe("bearer token for the /admin API (whitelist changes) and the console's token sign-in; without it both are off"),
      })
      .strict()
      .default({ listen: '127.0.0.1:9464' }),
    console: z
      .object({
        enabled: z.boolean().default(true).describe('serve the operator console at /console/ on admin.listen (sign-in needs admin.token or console.oidc)'),
        publicUrl: z
          .url({ protocol: /^https?$/u, error: 'expected the http(s):// origin browsers use to reach admin.listen' })
          .optional()
          .describe(
            'the origin browsers use to reach the console (e.g. https://gw.example.org, through a TLS proxy to admin.listen); needed for Entra ID sign-in; https makes the session cookie Secure; when set, requests for another host are refused',
          ),
        sessionMinutes: z.number().int().min(5).max(1440).default(480).describe('how long a console sign-in lasts'),
        sessionSecret: SecretRef.optional().describe(
          'key signing console session cookies (the same on every node); default: derived (HKDF) from cluster.secret, else teams.clientSecret, else teams.puppets.passwordSecret',
        ),
        maxLiveViewers: z.number().int().min(1).max(1000).default(20).describe('console pages with live updates (Server-Sent Events) open at once on one node'),
        signInAttemptsPerMinute: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('failed token sign-ins allowed per client address and minute; more are refused without checking'),
        oidc: z
          .object({
            clientId: z.string().min(1).optional().describe("the console's app registration (client) id; default teams.clientId"),
            clientSecret: SecretRef.optional().describe('its client secret (a web app redeems the code with it); default teams.clientSecret'),
            adminGroups: z
              .array(z.string().min(1))
              .min(1)
              .describe('Entra group ids whose (transitive) members may use the console: from the groups claim, else read from Graph'),
          })
          .strict()
          .optional()
          .describe("sign-in with Entra ID (OpenID Connect authorization code flow with PKCE) against teams.tenantId; redirect URI: <publicUrl>/console/auth/callback"),
      })
      .strict()
      .refine((c) => c.oidc === undefined || c.publicUrl !== undefined, { message: 'console.oidc needs console.publicUrl (its redirect URI)', path: ['publicUrl'] })
      .default({ enabled: true, sessionMinutes: 480, maxLiveViewers: 20, signInAttemptsPerMinute: 10 }),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('log level; message bodies appear only at debug'),
      })
      .strict()
      .default({ level: 'info' }),
    tracing: z
      .object({
        otlpEndpoint: z
          .string()
          .regex(/^https?:\/\//u, 'expected an http:// or https:// URL')
          .optional()
          .describe('OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces); without it tracing is off'),
        headers: z.record(z.string(), z.string()).default({}).describe('extra HTTP headers for the OTLP exporter (e.g. an API key)'),
      })
      .strict()
      .default({ headers: {} }),
    actors: z
      .object({
        idleSeconds: z.number().int().min(1).default(600).describe('an actor idle this long is passivated (stopped; rebuilt on demand)'),
        maxRestarts: z.number().int().min(0).default(5).describe('restarts allowed per actor within restartWindowSeconds before it is stopped'),
        restartWindowSeconds: z.number().int().min(1).default(60).describe('window for maxRestarts'),
        backoffInitialMs: z.number().int().min(0).default(100).describe('delay before the first restart after a crash; doubles with each further restart in the window'),
        backoffMaxMs: z.number().int().min(0).default(5000).describe('longest delay between restarts'),
        userPair: RestartOverride.optional().describe('restart policy of user-pair actors, overriding the four keys above'),
        remoteDomain: RestartOverride.optional().describe('restart policy of remote-domain actors, overriding the four keys above'),
        sfbPair: RestartOverride.optional().describe('restart policy of SfB pair actors (issue 17), overriding the four keys above'),
      })
      .strict()
      .default({ idleSeconds: 600, maxRestarts: 5, restartWindowSeconds: 60, backoffInitialMs: 100, backoffMaxMs: 5000 }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
