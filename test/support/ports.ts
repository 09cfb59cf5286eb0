/** Free TCP ports on loopback, so parallel test files never collide. */
export { freePort, freePorts } from '../../src/sandbox/port-open.js';
