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
      .strict(),
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
          })
          .strict(),
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
          })
          .strict()
          .default({ deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60 }),
      })
      .strict()
      .refine((st) => st.driver !== 'mssql' || st.mssql !== undefined, { message: 'store.driver is mssql but store.mssql is missing', path: ['mssql'] })
      .default({
        driver: 'sqlite',
        sqlite: { path: './data/gateway.sqlite', synchronous: 'full', busyTimeoutMs: 5000, groupCommit: true },
        retention: { deliveredDays: 7, deadDays: 30, relayedDays: 30, keepBodies: false, pruneIntervalMinutes: 60 },
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
      })
      .strict()
      .default({ domains: [], users: [], groups: [], pairing: [], groupRefreshSeconds: 300, reloadSeconds: 10 }),
    throttle: z
      .object({
        onExceeded: z.enum(['refuse', 'queue']).default('refuse').describe('XMPP -> Teams over a limit: refuse with <resource-constraint/>, or queue (bounded)'),
        queueDepth: z.number().int().min(1).default(20).describe('messages waiting per limit when onExceeded is queue'),
        maxDelaySeconds: z.number().int().min(1).default(30).describe('longest a Teams -> XMPP message waits for its limit before the sender is told'),
        pair: Limit.default({}).describe('per user pair (Teams user and XMPP user)'),
        user: Limit.default({}).describe('per user, across all their pairs (Teams user or XMPP user)'),
        domain: Limit.default({}).describe('per remote XMPP domain'),
        graphRequestsPerSecond: z.number().positive().default(15).describe('outbound Graph message posts per second for the tenant (Graph allows 20 per app per tenant)'),
      })
      .strict()
      .default({ onExceeded: 'refuse', queueDepth: 20, maxDelaySeconds: 30, pair: {}, user: {}, domain: {}, graphRequestsPerSecond: 15 }),
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
            file: z.string().min(1).optional().describe('path of this node\'s licence file (see docs/licensing.md)'),
            publicKeys: z.array(z.string().min(1)).default([]).describe('trusted licence signing keys: PEM texts or paths of PEM files'),
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
        listen: HostPort.default('127.0.0.1:9464').describe('where /metrics, /healthz, /readyz, /cluster and the /admin API are served, host:port'),
        token: SecretRef.optional().describe('bearer token for the /admin API (whitelist changes); without it the API is off'),
      })
      .strict()
      .default({ listen: '127.0.0.1:9464' }),
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
      })
      .strict()
      .default({ idleSeconds: 600, maxRestarts: 5, restartWindowSeconds: 60, backoffInitialMs: 100, backoffMaxMs: 5000 }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
