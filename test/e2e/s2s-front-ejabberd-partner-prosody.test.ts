/** Real S2S federation (issue 14): ejabberd in front of the gateway, the partner organisation on Prosody. */
import { describeS2sPairing } from '../support/scenarios/s2s-pairing.js';

describeS2sPairing('ejabberd', 'prosody');
