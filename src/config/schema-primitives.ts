/** The building blocks of the configuration schema: secrets, addresses, domains and rate limits. */
import { z } from 'zod';

/** A secret: a literal string, or where to read it (an environment variable or a file), so it need not sit in the file. */
export const SecretRef = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1).describe('name of the environment variable holding the secret') }).strict(),
  z.object({ file: z.string().min(1).describe('path of a file holding the secret (trailing newline ignored)') }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRef>;

export const HostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/u, 'expected host:port, e.g. 127.0.0.1:8090');

export const Domain = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u, 'expected a lower-case DNS domain');

export const DomainRule = z
  .string()
  .regex(/^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/u, 'expected a lower-case domain or *.domain');

export const UserRule = z.string().min(1);

export const Limit = z
  .object({
    messagesPerSecond: z.number().positive().optional().describe('sustained messages per second'),
    messageBurst: z.number().int().min(1).optional().describe('messages allowed at once above the sustained rate'),
    bytesPerSecond: z.number().positive().optional().describe('sustained body bytes per second'),
    byteBurst: z.number().int().min(1).optional().describe('body bytes allowed at once above the sustained rate'),
  })
  .strict();

/** Lookups of addresses not in the directory cache: a budget per sender and per remote domain (issue 12 finding 6). */
export const LookupBudget = z
  .object({
    perMinute: z.number().positive().describe('sustained lookups per minute'),
    burst: z.number().int().min(1).describe('lookups allowed at once above the sustained rate'),
  })
  .strict();
export const DEFAULT_LOOKUPS = { sender: { perMinute: 30, burst: 10 }, domain: { perMinute: 300, burst: 50 }, negativeCacheSeconds: 600 };
export const Lookups = z
  .object({
    sender: LookupBudget.default(DEFAULT_LOOKUPS.sender).describe('per XMPP user (bare JID)'),
    domain: LookupBudget.default(DEFAULT_LOOKUPS.domain).describe('per remote XMPP domain'),
    negativeCacheSeconds: z.number().int().min(0).default(600).describe('how long "no such Teams user" is remembered, so asking again costs nothing'),
  })
  .strict();

export const HttpsUrl = z.url({ protocol: /^https$/u, error: 'expected an https:// URL' });
