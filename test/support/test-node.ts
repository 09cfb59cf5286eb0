/**
 * The gateway's command as a test build: this process also trusts the test licence key (licence-test-key.ts),
 * then runs the CLI exactly as dist/src/main.js does. The release image has no dist/test, so no release build can
 * be started this way (src/cluster/licence-keys.ts, docs/licensing.md).
 */
import { trustTestLicenceKeys } from '../../src/cluster/licence-keys.js';
import { TEST_LICENCE_KEY } from './licence-test-key.js';

trustTestLicenceKeys([TEST_LICENCE_KEY.publicKeyPem]);
await import('../../src/main.js');
