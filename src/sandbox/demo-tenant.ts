/**
 * The sandbox's demo tenant: a few Teams users (one whose UPN needs XEP-0106 escaping, one in a second domain),
 * the gateway's app registration with the permissions docs/teams-identity.md lists, and the XMPP side's users.
 * Fixed values, so the printed instructions stay the same from run to run; nothing here is a real credential.
 */

export const DEMO = {
  tenantId: '8c6e2a43-5d1f-4b8e-9a7c-2f0d4e6b1a90',
  clientId: '3f1c9b27-6a4e-4d2b-8f5a-1e7c0b9d2a64',
  clientSecret: 'sandbox-client-secret',
  teamsDomain: 'contoso.example',
  puppetDomain: 'xmpp.contoso.example',
  xmppDomain: 'xmpp.example',
  componentDomain: 'teams.xmpp.example',
  componentSecret: 'sandbox-component-secret',
  puppetPasswordSecret: 'sandbox-puppet-master-secret',
  /** admin.token of the sandbox's node: the /admin API and the operator console. */
  adminToken: 'sandbox-admin-token',
  /** tenants[contoso].admin.token in the sandbox: Contoso's administrators, who cannot touch Northwind. */
  tenantAdminToken: 'sandbox-contoso-admin-token',
  teamsUsers: [
    {
      userPrincipalName: 'alice.smith@contoso.example',
      displayName: 'Alice Smith',
      givenName: 'Alice',
      surname: 'Smith',
      jobTitle: 'Liaison officer',
      department: 'J5 Plans',
      officeLocation: 'Building 2, room 114',
      mail: 'alice.smith@contoso.example',
      businessPhones: ['+44 20 7946 0000'] as string[],
      mobilePhone: '+44 7700 900000',
      password: 'Alice-pass-1',
    },
    { userPrincipalName: 'bob.jones@contoso.example', displayName: 'Bob Jones', givenName: 'Bob', surname: 'Jones', jobTitle: 'Analyst', password: 'Bob-pass-1' },
    { userPrincipalName: "sean.o'brien@contoso.example", displayName: "Seán O'Brien", givenName: 'Seán', surname: "O'Brien", jobTitle: 'Engineer', password: 'Sean-pass-1' },
    { userPrincipalName: 'dave@fabrikam.example', displayName: 'Dave (Fabrikam)', givenName: 'Dave', surname: 'Miller', jobTitle: 'Partner', password: 'Dave-pass-1' },
    { userPrincipalName: 'eve.internal@contoso.example', displayName: 'Eve Internal', givenName: 'Eve', surname: 'Internal', jobTitle: 'Auditor', password: 'Eve-pass-1' },
  ],
  /** An Entra group whose members may federate (whitelisting by group). */
  liaisonGroup: { id: '5d0c1a6e-0b7f-4b1e-9f43-7c2a9e4d8b11', displayName: 'XMPP liaison', members: ['bob.jones@contoso.example'] },
  /** The Entra group whose members may sign in to the operator console (console.oidc.adminGroups). */
  consoleAdminGroup: { id: '2b9e4f71-6c3d-4a8e-b5f0-9d1c7e3a6b24', displayName: 'Gateway console admins', members: ['alice.smith@contoso.example'] },
  /**
   * The group the XMPP users' accounts join (teams.puppets.groupId); its licence brings them Microsoft Teams
   * (group-based licensing), as docs/teams-identity.md asks of a real tenant.
   */
  puppetGroup: { id: '2b7e4c19-6d3a-4f0e-8c21-9a5d7e3b1f64', displayName: 'XMPP users', licensed: true },
  /** A second XMPP domain on the same Prosody, outside the whitelist. */
  strangerDomain: 'stranger.example',
  strangerUsers: [{ user: 'mallory', password: 'mallory-pass' }],
  xmppUsers: [
    { user: 'juliet', password: 'juliet-pass' },
    { user: 'romeo', password: 'romeo-pass' },
  ],
  /** A partner organisation on its own XMPP server, federated with the gateway's server over S2S. */
  partnerDomain: 'partner.example',
  partnerUsers: [
    { user: 'benvolio', password: 'benvolio-pass' },
    { user: 'mercutio', password: 'mercutio-pass' },
  ],
  /** docs/teams-identity.md: what an administrator grants the gateway's app registration. */
  applicationPermissions: ['User.ReadWrite.All', 'GroupMember.ReadWrite.All', 'Presence.Read.All'],
  /** GroupMember.ReadWrite.All also covers reading members (group whitelisting). */
  delegatedPermissions: ['User.Read', 'Chat.Create', 'ChatMessage.Send', 'Chat.ReadWrite', 'Presence.Read.All', 'Presence.ReadWrite'],
} as const;

/**
 * A second organisation with a tenant of its own (issue 16: several tenants in one cluster, kept apart): its own
 * tenant id, app registration (one app per tenant, the default), UPN domain, users, liaison group, puppet group and
 * puppet UPN domain, and its own component domain for the XMPP side. Nothing is shared with DEMO: no domain, no id,
 * no secret. The sandbox and the gateway's multi-tenant tests start the emulator with both
 * (test/emulators/graph/demo-tenant.ts, demoTenantsEmulatorOptions).
 */
export const DEMO_NORTHWIND = {
  tenantId: '5f3a9c1e-2b7d-4e6a-8c04-9d1b3e7f2a58',
  displayName: 'Northwind Traders',
  clientId: '7c2e5a91-4f3b-4d8e-a6c1-0b9d8e2f4a37',
  clientSecret: 'sandbox-northwind-client-secret',
  teamsDomain: 'northwind.example',
  puppetDomain: 'xmpp.northwind.example',
  componentDomain: 'teams.northwind.example',
  componentSecret: 'sandbox-northwind-component-secret',
  puppetPasswordSecret: 'sandbox-northwind-puppet-master-secret',
  /** tenants[northwind].admin.token in the sandbox: Northwind's administrators, who cannot touch Contoso. */
  tenantAdminToken: 'sandbox-northwind-admin-token',
  teamsUsers: [
    {
      userPrincipalName: 'grace.hopper@northwind.example',
      displayName: 'Grace Hopper',
      givenName: 'Grace',
      surname: 'Hopper',
      jobTitle: 'Liaison officer',
      department: 'Logistics',
      mail: 'grace.hopper@northwind.example',
      businessPhones: ['+1 202 555 0140'] as string[],
      password: 'Grace-pass-1',
    },
    { userPrincipalName: 'ken.thompson@northwind.example', displayName: 'Ken Thompson', givenName: 'Ken', surname: 'Thompson', jobTitle: 'Engineer', password: 'Ken-pass-1' },
    { userPrincipalName: 'nina.internal@northwind.example', displayName: 'Nina Internal', givenName: 'Nina', surname: 'Internal', jobTitle: 'Auditor', password: 'Nina-pass-1' },
  ],
  /** Members may federate (whitelisting by group); Nina is not in it. */
  liaisonGroup: { id: '9a4d2c7e-1f5b-4e3a-b8d6-4c0e7a2f9b13', displayName: 'XMPP liaison (Northwind)', members: ['ken.thompson@northwind.example'] },
  /** The licensed group the XMPP users' accounts of this tenant join (group-based licensing). */
  puppetGroup: { id: '3e8b1d5a-7c2f-4a9e-9d40-6b2e8f1c7a35', displayName: 'XMPP users (Northwind)', licensed: true },
  applicationPermissions: DEMO.applicationPermissions,
  delegatedPermissions: DEMO.delegatedPermissions,
} as const;

/** What the emulator's demo options need of a demo tenant (DEMO, DEMO_NORTHWIND). */
export interface DemoTenant {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly teamsDomain: string;
  readonly puppetDomain: string;
  readonly teamsUsers: readonly { readonly userPrincipalName: string; readonly displayName: string }[];
  readonly liaisonGroup: { readonly id: string; readonly displayName: string; readonly members: readonly string[] };
  readonly puppetGroup: { readonly id: string; readonly displayName: string; readonly licensed: boolean };
  readonly applicationPermissions: readonly string[];
  readonly delegatedPermissions: readonly string[];
}
