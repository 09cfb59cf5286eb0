/**
 * Several tenants in one cluster (issue 16, DESIGN.md decision 10): the `tenants` list, each entry a tenant with
 * everything that is its own, and the `walls` that say what may cross between a tenant and the rest of the world.
 * Between two tenants of the same cluster nothing flows unless a wall rule allows it.
 */
import { z } from 'zod';
import { Domain, DomainRule, SecretRef, UserRule } from './schema-primitives.js';
import { CardsSchema, PolicySchema, SfbSchema, TeamsSchema, ThrottleSchema } from './tenant-schema.js';

/** A tenant id: short, lower case, safe in actor keys, Redis keys, metric labels, URL paths and log fields. */
export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,30}$/u;
const TenantId = z.string().regex(TENANT_ID, 'expected 1 to 31 lower-case letters, digits and dashes');

/** The id the single-tenant layout's tenant gets (and rows written before tenants existed). */
export const DEFAULT_TENANT = 'default';

/** A remote party a wall lets a tenant federate with: a domain (exact or *.suffix) or a bare JID. */
const Party = z
  .string()
  .regex(/^((\*\.)?[a-z0-9.-]+|[^@\s/]+@[a-z0-9.-]+)$/u, 'expected a lower-case domain, *.domain or a bare JID (user@domain)');

const TenantSchema = z
  .object({
    id: TenantId.describe('short id of the tenant, used in actor keys, store rows, metric labels, log lines and admin paths; "default" keeps the rows of a single-tenant installation'),
    xmpp: z
      .object({
        domain: Domain.describe('the tenant\'s XMPP component domain, e.g. teams.contoso.com'),
        password: SecretRef.describe('its component secret, shared with the XMPP server'),
        extraDomains: z
          .array(
            z
              .object({
                domain: Domain.describe('a further component domain of the tenant'),
                password: SecretRef.describe('its component secret'),
                upnDomain: Domain.describe('the UPN domain whose users it serves with short JIDs (dave@fabrikam.com -> dave@<domain>)'),
              })
              .strict(),
          )
          .default([])
          .describe('further component domains, each serving the users of one UPN domain: not supported yet (refused when set; docs/tenants.md)'),
      })
      .strict(),
    teams: TeamsSchema.optional().describe('the tenant\'s Microsoft 365 tenant; leave it out for a deployment with Skype for Business Server only (then sfb is required)'),
    policy: PolicySchema,
    throttle: ThrottleSchema,
    cards: CardsSchema,
    sfb: SfbSchema.optional().describe('the tenant\'s Skype for Business Server deployment'),
    admin: z
      .object({
        token: SecretRef.optional().describe('bearer token of this tenant\'s administrators: its admin API, CLI and console scope, never another tenant\'s'),
      })
      .strict()
      .default({}),
  })
  .strict()
  // A deployment has Teams, SfB Server, or both (issue 17).
  .refine((t) => t.teams !== undefined || t.sfb !== undefined, { message: 'set teams (Microsoft 365), sfb (Skype for Business Server) or both', path: ['teams'] });

const Members = {
  users: z.array(UserRule).default([]).describe('UPNs or object ids of the tenant\'s users who take part; with groups empty too: every user the tenant\'s whitelist allows'),
  groups: z.array(z.string().min(1)).default([]).describe('Entra group ids (of the tenant) whose members take part'),
};

export const WallsSchema = z
  .object({
    remote: z
      .array(
        z
          .object({
            tenant: TenantId.describe('the tenant the rule is for'),
            parties: z.array(Party).min(1).describe('remote domains (exact or *.suffix) and bare JIDs the tenant may federate with; a *.suffix never matches another tenant\'s component domain'),
            ...Members,
          })
          .strict(),
      )
      .default([])
      .describe('remote parties each tenant may federate with at most (its whitelist, also changed at run time by its admins, works within them); a tenant without a rule here: its whitelist alone'),
    between: z
      .array(
        z
          .object({
            tenant: TenantId.describe('one tenant'),
            ...Members,
            peer: TenantId.describe('the other tenant'),
            peerUsers: z.array(UserRule).default([]).describe('UPNs or object ids of the peer\'s users who take part (empty with peerGroups: every user the peer\'s whitelist allows)'),
            peerGroups: z.array(z.string().min(1)).default([]).describe('Entra group ids (of the peer) whose members take part'),
          })
          .strict(),
      )
      .default([])
      .describe('pairs of tenants of this cluster that may federate with each other (both ways), and who takes part on each side; nothing else crosses between tenants'),
  })
  .strict();

export const TenantsSchema = z.array(TenantSchema).min(1);

export type TenantRaw = z.infer<typeof TenantSchema>;
export type WallsRaw = z.infer<typeof WallsSchema>;
