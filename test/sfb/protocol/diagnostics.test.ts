/** ms-diagnostics and ms-diagnostics-public ([MS-OCER] §2.2.1): parsing, and what documented ErrorIds change. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnosticEffect, parseDiagnostics } from '../../../src/sfb/protocol/diagnostics.js';
import { sipFailureIsTransient, sipToStanzaError, type SipFailure } from '../../../src/sfb/protocol/errors.js';

describe('parsing ms-diagnostics ([MS-OCER] §2.2.1.1)', () => {
  const table: [string, unknown][] = [
    ['4005;reason="Destination URI either not enabled for SIP or does not exist";source="fe01.contoso.example"', { code: 4005, subCode: undefined, reason: 'Destination URI either not enabled for SIP or does not exist', source: 'fe01.contoso.example' }],
    ['1004.2;reason="Route set is no longer valid"', { code: 1004, subCode: 2, reason: 'Route set is no longer valid', source: undefined }],
    ['  1007 ; source=edge.contoso.example;reason="Temporarily cannot route";appName="x"', { code: 1007, subCode: undefined, reason: 'Temporarily cannot route', source: 'edge.contoso.example' }],
    ['12006;reason="a \\"quoted\\" word"', { code: 12006, subCode: undefined, reason: 'a "quoted" word', source: undefined }],
    ['2001', { code: 2001, subCode: undefined, reason: undefined, source: undefined }],
    ['reason="no id"', undefined],
    ['x4005;reason="y"', undefined],
    ['', undefined],
  ];
  for (const [value, parsed] of table) it(`${value || '(empty)'}`, () => assert.deepEqual(parseDiagnostics(value), parsed));
  it('reads a bounded prefix of a long header', () => assert.equal(parseDiagnostics(`1003;reason="${'x'.repeat(5000)}"`)?.code, 1003));
});

describe('documented ErrorIds refine the SIP status', () => {
  const d = (code: number, reason = 'r') => `${code};reason="${reason}";source="fe01.contoso.example"`;
  const table: [string, SipFailure, string, string, boolean][] = [
    ['403 alone', { status: 403 }, 'forbidden', 'auth', false],
    ['403 with 1002 (not authorized to communicate with federated partners)', { status: 403, diagnostics: d(1002) }, 'policy-violation', 'modify', false],
    ['403 with 1012 (not authorized outside the enterprise)', { status: 403, diagnostics: d(1012) }, 'policy-violation', 'modify', false],
    ['480 with 1003 (user does not exist)', { status: 480, diagnostics: d(1003) }, 'item-not-found', 'cancel', false],
    ['404 with 4005', { status: 404, diagnostics: d(4005) }, 'item-not-found', 'cancel', false],
    ['500 with 4006 (user not found in pool): final, not retried', { status: 500, diagnostics: d(4006) }, 'item-not-found', 'cancel', false],
    ['504 with 1007 (temporarily cannot route): retried', { status: 504, diagnostics: d(1007) }, 'remote-server-timeout', 'wait', true],
    ['403 with 1007: retried although 403 alone is final', { status: 403, diagnostics: d(1007) }, 'remote-server-timeout', 'wait', true],
    ['503 with an id not in the table: the status decides', { status: 503, diagnostics: d(5003) }, 'service-unavailable', 'wait', true],
    ['486 with a malformed header', { status: 486, diagnostics: 'busy' }, 'recipient-unavailable', 'wait', false],
  ];
  for (const [what, failure, condition, type, transient] of table) {
    it(`${what} -> ${condition}/${type}${transient ? ', retried' : ''}`, () => {
      const e = sipToStanzaError(failure);
      assert.equal(e.condition, condition);
      assert.equal(e.type, type);
      assert.equal(sipFailureIsTransient(failure), transient);
    });
  }
  it('1004 (route set no longer valid) means the session is lost', () => {
    assert.equal(diagnosticEffect('1004;reason="Route set is no longer valid"'), 'session-lost');
    assert.equal(diagnosticEffect(undefined), undefined);
  });
  it('shows the ms-diagnostics-public reason, never the internal one', () => {
    const e = sipToStanzaError({ status: 403, diagnostics: '1002;reason="internal detail";source="fe01.corp.example"', publicDiagnostics: '1002;reason="Federation is not enabled for this user"' });
    assert.equal(e.condition, 'policy-violation');
    assert.match(e.text ?? '', /Federation is not enabled for this user/u);
    assert.doesNotMatch(e.text ?? '', /internal detail|fe01/u);
    assert.doesNotMatch(sipToStanzaError({ status: 404, diagnostics: '4005;reason="secret";source="fe01.corp.example"' }).text ?? '', /secret|fe01/u);
  });
});
