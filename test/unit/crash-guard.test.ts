// Which uncaught exceptions a network-facing wzp process may survive: only the QUIC library's
// per-connection failures, never anything else.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errors as quicErrors } from '@matrixai/quic';
import { isPerConnectionQuicFailure } from '../../src-main/engine/transport/quic-internals.ts';

describe('QUIC per-connection failures', () => {
  test('the library internal connection and stream errors are per-connection', () => {
    assert.ok(isPerConnectionQuicFailure(new quicErrors.ErrorQUICConnectionInternal('x')));
    assert.ok(isPerConnectionQuicFailure(new quicErrors.ErrorQUICStreamInternal('x')));
  });
  test('socket and server failures, and our own bugs, stay fatal', () => {
    assert.ok(!isPerConnectionQuicFailure(new quicErrors.ErrorQUICSocketInternal('x')));
    assert.ok(!isPerConnectionQuicFailure(new quicErrors.ErrorQUICServerInternal('x')));
    assert.ok(!isPerConnectionQuicFailure(new TypeError('x is undefined')));
    assert.ok(!isPerConnectionQuicFailure('a string'));
  });
});
