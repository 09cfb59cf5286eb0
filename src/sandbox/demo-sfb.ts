/**
 * The sandbox's Skype for Business pool (issue 17): the SfB emulator's Front End and the gateway's trusted
 * application, each with a certificate from the sandbox CA naming its FQDN (on loopback through static host
 * entries), and the SfB users, homed one by one in the same SIP domain as the Teams users: one address per person.
 */
export const DEMO_SFB = {
  frontEnd: 'fe01.contoso.example',
  pool: 'pool01.contoso.example',
  gateway: 'sfb-gw.xmpp.example',
  sipDomain: 'contoso.example',
  /** Homed on SfB (sfb.users); nobody@ does not exist in the pool (404). */
  users: ['carol@contoso.example', 'dan@contoso.example', 'erin@contoso.example', 'nobody@contoso.example'],
} as const;
