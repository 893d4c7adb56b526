// The relay's alternate STUN port and the client's NAT-depth probe on loopback (issue 11): a
// CHANGE-REQUEST is answered from stun port + 1, a plain request from the main port; with no NAT
// in the way the smallest opening TTL is 1; without an alternate port the probe says null.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MediaForwarder } from '../../src-main/relay/media-forwarder.ts';
import { RelayUdpPlane } from '../../src-main/relay/udp-plane.ts';
import { StunResponder } from '../../src-main/relay/stun-responder.ts';
import { probePunchTtl } from '../../src-main/engine/nat/nat-depth.ts';
import {
  encodeBindingRequest,
  encodeChangePortRequest,
  wantsChangePort,
} from '../../src-main/engine/nat/stun-message.ts';

async function plane(withAlternate: boolean): Promise<{ p: RelayUdpPlane; port: number }> {
  const stun = new StunResponder();
  const p = new RelayUdpPlane({
    forwarder: new MediaForwarder(),
    stun: (b, r) => stun.handle(b, r),
  });
  const a = await p.bind('127.0.0.1', 0);
  if (withAlternate) assert.equal(await p.bindAlternate('127.0.0.1', a.port + 1), true);
  return { p, port: a.port };
}

describe('NAT depth against the relay alternate STUN port', () => {
  test('CHANGE-REQUEST change-port is encoded and recognised; a plain request is not', () => {
    const id = randomBytes(12);
    assert.equal(wantsChangePort(encodeChangePortRequest(id)), true);
    assert.equal(wantsChangePort(encodeBindingRequest(id)), false);
  });

  test('no NAT on loopback: TTL 1 opens; no alternate port: null', async () => {
    const a = await plane(true);
    try {
      assert.equal(a.p.alternateAddress()?.port, a.port + 1);
      assert.equal(await probePunchTtl({ stun: { host: '127.0.0.1', port: a.port } }), 1);
    } finally {
      await a.p.close();
    }
    const b = await plane(false);
    try {
      const r = await probePunchTtl({ stun: { host: '127.0.0.1', port: b.port }, deadlineMs: 300 });
      assert.equal(r, null, 'answers from the main port prove nothing');
    } finally {
      await b.p.close();
    }
  });
});
