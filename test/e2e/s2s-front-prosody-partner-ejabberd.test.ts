/** Real S2S federation (issue 14): Prosody in front of the gateway, the partner organisation on ejabberd. */
import { describeS2sPairing } from '../support/scenarios/s2s-pairing.js';

describeS2sPairing('prosody', 'ejabberd');
