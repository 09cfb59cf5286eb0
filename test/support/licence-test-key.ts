/**
 * The licence signing key of test builds. It is trusted only by processes started through the test harness
 * (test-node.ts, the benches), never by the release build: a licence signed with it is refused by the gateway
 * built from src alone (test/cli/licence-cli.test.ts). Key id 1ae10a7ee322c203.
 */
export const TEST_LICENCE_KEY = {
  keyId: '1ae10a7ee322c203',
  publicKeyPem: `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAQvrrU6yAZI0tdcyrLZVO1AXPUyhvY/NeKY6Tq4omn2g=
-----END PUBLIC KEY-----
`,
  privateKeyPem: `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKBCG4xuG3pG6PfHOxe9MCEUbJRvnDmYtenkyl/Xw70B
-----END PRIVATE KEY-----
`,
} as const;
