// The relay's admission bookkeeping and the per-connection inbound budget, on a fake clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Admission, addressKey } from '../../src-main/relay/admission.ts';
import { InboundBudget } from '../../src-main/engine/transport/inbound-budget.ts';
import { TokenBucket } from '../../src-main/engine/base/token-bucket.ts';

describe('admission', () => {
  test('unregistered connections have their own pool, capped per address', () => {
    const a = new Admission({ maxClients: 2, maxUnregistered: 5, maxUnregisteredPerAddress: 2 });
    const t1 = a.admit('10.0.0.1');
    const t2 = a.admit('10.0.0.1');
    assert.ok(t1 && t2);
    assert.equal(a.admit('10.0.0.1'), null);
    assert.equal(a.refused['address-full'], 1);
    assert.ok(t1.register(false));
    // Registering frees the place in the unregistered pool of its address.
    const t3 = a.admit('10.0.0.1');
    assert.ok(t3);
    assert.ok(t2.register(false));
    assert.equal(t3.register(false), false, 'a third registered client is one too many');
    assert.ok(t3.register(true), 'unless it replaces a registration of the same identity');
    t1.release();
    t1.release();
    assert.deepEqual(a.counts(), { registered: 2, unregistered: 0, addresses: 0 });
  });

  test('counts return to zero whatever the order of admits, registrations and releases', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('admit', 'register', 'release'), fc.nat(7), fc.nat(3))),
        (ops) => {
          const a = new Admission({
            maxClients: 3,
            maxUnregistered: 4,
            maxUnregisteredPerAddress: 2,
          });
          const tickets: NonNullable<ReturnType<Admission['admit']>>[] = [];
          for (const [op, i, host] of ops) {
            if (op === 'admit') {
              const t = a.admit(`h${host}`);
              if (t) tickets.push(t);
            } else if (tickets.length > 0) {
              const t = tickets[i % tickets.length];
              if (op === 'register') t?.register(false);
              else t?.release();
            }
            const c = a.counts();
            assert.ok(c.registered <= 3 && c.unregistered <= 4 && c.unregistered >= 0);
          }
          for (const t of tickets) t.release();
          assert.deepEqual(a.counts(), { registered: 0, unregistered: 0, addresses: 0 });
        },
      ),
    );
  });

  test('address keys: IPv4 as is (also mapped), IPv6 by /64', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0DB8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
  });
});

describe('inbound budget', () => {
  test('a debt is paid by waiting; valid and invalid frames cost the same', () => {
    let t = 0;
    const b = new InboundBudget(
      {
        bytesPerSec: 1000,
        bytesBurst: 2000,
        framesPerSec: 10,
        framesBurst: 10,
        cpuMsPerSec: 100,
        cpuMsBurst: 100,
      },
      () => t,
    );
    b.chargeBytes(2000);
    assert.equal(b.waitMs(), 0);
    b.chargeBytes(500);
    assert.equal(b.waitMs(), 500);
    t = 500;
    assert.equal(b.waitMs(), 0);
    for (let i = 0; i < 15; i++) b.chargeFrame();
    assert.equal(b.waitMs(), 500);
    t = 1000;
    b.chargeCpu(300);
    assert.equal(b.waitMs(), 2000, 'CPU debt: 200 ms over at 100 ms/s');
  });

  test('a token bucket charged after the fact refills to its burst, not beyond', () => {
    let t = 0;
    const tb = new TokenBucket(10, 5, () => t);
    tb.charge(8);
    assert.equal(tb.msUntil(), 300);
    assert.equal(tb.take(), false);
    t = 10_000;
    assert.ok(tb.full);
    assert.ok(tb.take(5));
    assert.equal(tb.take(), false);
  });
});
