// Port mapping without a router: the PCP and NAT-PMP codecs against RFC 6887/6886 byte layouts
// (one response captured from miniupnpd 2.3.1 in the NAT lab), default-gateway parsers on
// captured platform output, the UPnP description and SSDP parsers (and their refusal to leave
// the gateway), the PCP client's version fallback, retransmission and error handling on fake
// timers, and the PortMapper's life cycle against a fake PCP gateway on loopback.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fc from 'fast-check';
import {
  decodeNatPmpResponse,
  decodePcpResponse,
  encodeNatPmpMapUdpRequest,
  encodePcpMapRequest,
} from '../../src-main/engine/nat/port-mapping/pcp-codec.ts';
import {
  parseBsdRouteGet,
  parseLinuxProcNetRoute,
  parseWindowsRoutePrint,
} from '../../src-main/engine/nat/port-mapping/default-gateway.ts';
import {
  parseDeviceDescription,
  parseSsdpResponse,
} from '../../src-main/engine/nat/port-mapping/upnp-igd.ts';
import {
  PcpClient,
  PortMappingError,
  type GatewayTransport,
} from '../../src-main/engine/nat/port-mapping/pcp-client.ts';
import {
  PortMapper,
  isNonPublicIpv4,
  udpGatewayTransport,
} from '../../src-main/engine/nat/port-mapping/port-mapper.ts';
import { CandidateSchema } from '../../src-shared/call-signals.ts';
import { mappedCandidate, serverReflexiveCandidate } from '../../src-main/engine/nat/candidates.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const NONCE = hex('ada93cc134d4e21a2be3853a');

describe('PCP codec (RFC 6887 MAP)', () => {
  test('a request has the RFC layout: version 2, MAP, lifetime, client IP, nonce, UDP, ports', () => {
    const b = Buffer.from(
      encodePcpMapRequest({
        clientIp: '10.1.0.2',
        nonce: NONCE,
        internalPort: 40001,
        suggestedExternalPort: 40001,
        suggestedExternalIp: null,
        lifetimeS: 120,
      }),
    );
    assert.equal(b.length, 60);
    assert.equal(b.toString('hex', 0, 8), '0201000000000078');
    assert.equal(b.toString('hex', 8, 24), '00000000000000000000ffff0a010002');
    assert.deepEqual(Uint8Array.from(b.subarray(24, 36)), NONCE);
    assert.equal(b[36], 17);
    assert.equal(b.readUInt16BE(40), 40001);
    assert.equal(b.readUInt16BE(42), 40001);
    assert.equal(b.toString('hex', 44, 60), '00000000000000000000ffff00000000');
  });

  test("decodes miniupnpd's answer (captured in the lab)", () => {
    const r = decodePcpResponse(
      hex(
        '02810000 00000078 00000001 000000000000000000000000 ada93cc134d4e21a2be3853a' +
          '11000000 9c41 9c41 00000000000000000000ffffc6120102',
      ),
    );
    assert.deepEqual(r, {
      kind: 'map',
      resultCode: 0,
      lifetimeS: 120,
      epochS: 1,
      nonce: NONCE,
      internalPort: 40001,
      externalPort: 40001,
      externalIp: '198.18.1.2',
    });
  });

  test('a NAT-PMP server answering PCP is a version mismatch, not a mapping', () => {
    assert.deepEqual(decodePcpResponse(hex('00810001 00000005')), {
      kind: 'version-mismatch',
      serverVersion: 0,
      resultCode: 1,
    });
  });

  test('requests it did not send (no response bit, other opcode, short, odd length) are null', () => {
    assert.equal(decodePcpResponse(hex('0201000000000078')), null);
    assert.equal(
      decodePcpResponse(new Uint8Array(60).fill(0).map((_, i) => (i === 0 ? 2 : 0))),
      null,
    );
    assert.equal(decodePcpResponse(hex('02')), null);
  });

  test('any bytes decode to a value or null, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        decodePcpResponse(b);
        decodeNatPmpResponse(b);
      }),
      { numRuns: 3000 },
    );
  });

  test('bad arguments are refused before anything is sent', () => {
    const base = {
      clientIp: '10.1.0.2',
      nonce: NONCE,
      internalPort: 1,
      suggestedExternalPort: 0,
      suggestedExternalIp: null,
      lifetimeS: 1,
    };
    assert.throws(() => encodePcpMapRequest({ ...base, nonce: new Uint8Array(3) }), RangeError);
    assert.throws(() => encodePcpMapRequest({ ...base, clientIp: '::1' }), RangeError);
    assert.throws(() => encodePcpMapRequest({ ...base, internalPort: 0 }), RangeError);
    assert.throws(
      () => encodeNatPmpMapUdpRequest({ internalPort: 1, suggestedExternalPort: 1, lifetimeS: -1 }),
      RangeError,
    );
  });
});

describe('NAT-PMP codec (RFC 6886)', () => {
  test('map request and the captured answers', () => {
    assert.equal(
      Buffer.from(
        encodeNatPmpMapUdpRequest({
          internalPort: 40000,
          suggestedExternalPort: 40000,
          lifetimeS: 120,
        }),
      ).toString('hex'),
      '000100009c409c4000000078',
    );
    assert.deepEqual(decodeNatPmpResponse(hex('0080000000000001c6120102')), {
      kind: 'external-address',
      resultCode: 0,
      epochS: 1,
      externalIp: '198.18.1.2',
    });
    assert.deepEqual(decodeNatPmpResponse(hex('00810000000000019c409c4000000078')), {
      kind: 'map-udp',
      resultCode: 0,
      epochS: 1,
      internalPort: 40000,
      externalPort: 40000,
      lifetimeS: 120,
    });
  });
});

describe('default gateway', () => {
  test('Linux /proc/net/route: lowest-metric default route via a gateway', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
      'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
      'tun0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0',
    ].join('\n');
    assert.equal(parseLinuxProcNetRoute(table), '10.0.0.1');
    assert.equal(parseLinuxProcNetRoute(table.split('\n').slice(0, 1).join('\n')), null);
  });
  test('macOS route -n get default', () => {
    const out =
      '   route to: default\ndestination: default\n       mask: default\n    gateway: 192.168.1.254\n  interface: en0\n';
    assert.equal(parseBsdRouteGet(out), '192.168.1.254');
    assert.equal(parseBsdRouteGet('    gateway: link#12\n'), null);
  });
  test('Windows route print -4 0.0.0.0', () => {
    const out = [
      'IPv4 Route Table',
      '===========================================================================',
      'Active Routes:',
      'Network Destination        Netmask          Gateway       Interface  Metric',
      '          0.0.0.0          0.0.0.0      192.168.0.1    192.168.0.23     35',
      '          0.0.0.0          0.0.0.0      10.8.0.1        10.8.0.6        25',
      '          0.0.0.0          0.0.0.0         On-link       10.9.0.2         5',
      '===========================================================================',
      'Persistent Routes:',
      '  None',
    ].join('\r\n');
    assert.equal(parseWindowsRoutePrint(out), '10.8.0.1');
  });
});

describe('UPnP-IGD parsing stays on the gateway', () => {
  const answer = (loc: string) =>
    `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLocation: ${loc}\r\n\r\n`;
  test('SSDP: the LOCATION of an answer about the gateway itself, nothing else', () => {
    assert.equal(
      parseSsdpResponse(answer('http://10.1.0.1:5000/rootDesc.xml'), '10.1.0.1')?.port,
      '5000',
    );
    assert.equal(parseSsdpResponse(answer('http://10.1.0.9:5000/rootDesc.xml'), '10.1.0.1'), null);
    assert.equal(parseSsdpResponse(answer('https://10.1.0.1/x'), '10.1.0.1'), null);
    assert.equal(parseSsdpResponse('NOTIFY * HTTP/1.1\r\n\r\n', '10.1.0.1'), null);
  });
  const desc = (control: string, base = '') => `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">${base}<device>
 <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
 <serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
 <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
  <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>
   <serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>${control}</controlURL></service></serviceList>
  </device></deviceList></device></deviceList></device></root>`;
  const loc = new URL('http://10.1.0.1:5000/rootDesc.xml');
  test('finds the WAN connection service nested in the device tree', () => {
    const s = parseDeviceDescription(desc('/ctl/IPConn'), loc);
    assert.equal(s?.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:2');
    assert.equal(s?.controlUrl.href, 'http://10.1.0.1:5000/ctl/IPConn');
  });
  test('a control URL (or URLBase) pointing away from the gateway is refused', () => {
    assert.equal(parseDeviceDescription(desc('http://198.51.100.7/ctl'), loc), null);
    assert.equal(
      parseDeviceDescription(desc('/ctl', '<URLBase>http://10.1.0.66:80/</URLBase>'), loc),
      null,
    );
    assert.equal(parseDeviceDescription('<<<not xml', loc), null);
    assert.equal(parseDeviceDescription('<root/>', loc), null);
  });
});

describe('candidates', () => {
  test('a mapped candidate ranks above a server-reflexive one and passes the signal schema', () => {
    const m = mappedCandidate('198.18.1.2', 40000);
    assert.ok(m.priority > serverReflexiveCandidate('198.18.1.2', 40000).priority);
    assert.equal(CandidateSchema.safeParse(m).success, true);
  });
  test('non-public external addresses are recognised (a mapping behind another NAT)', () => {
    for (const ip of ['10.0.0.1', '100.64.3.4', '192.168.1.1', '172.20.0.1', '0.0.0.0', '::1'])
      assert.equal(isNonPublicIpv4(ip), true, ip);
    for (const ip of ['198.18.1.2', '8.8.8.8', '100.128.0.1'])
      assert.equal(isNonPublicIpv4(ip), false, ip);
  });
});

/** A router on paper: records what the client sends and answers through `reply`. */
function fakeTransport(): GatewayTransport & {
  sent: Uint8Array[];
  reply(d: Uint8Array): void;
  refuse(): void;
} {
  const msg: ((d: Uint8Array) => void)[] = [];
  const err: ((e: Error) => void)[] = [];
  return {
    localAddress: '10.1.0.2',
    sent: [],
    send(d) {
      this.sent.push(d);
    },
    onMessage: (l) => void msg.push(l),
    onError: (l) => void err.push(l),
    close: () => undefined,
    reply: (d) => msg.forEach((l) => l(d)),
    refuse: () => err.forEach((l) => l(new Error('recvmsg ECONNREFUSED'))),
  };
}

class FakeClock {
  t = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now = () => this.t;
  timers = {
    setTimeout: (fn: () => void, ms: number) => {
      const id = ++this.#id;
      this.#timers.push({ at: this.t + ms, fn, id });
      return id;
    },
    clearTimeout: (h: unknown) => {
      this.#timers = this.#timers.filter((x) => x.id !== h);
    },
  };
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.t = next.at;
      next.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}

function pcpAnswer(
  req: Uint8Array,
  result: number,
  lifetime = 7200,
  ip = [198, 18, 1, 2],
): Uint8Array {
  const b = Buffer.alloc(60);
  b[0] = 2;
  b[1] = 0x81;
  b[3] = result;
  b.writeUInt32BE(lifetime, 4);
  b.writeUInt32BE(9, 8);
  Buffer.from(req.subarray(24, 44)).copy(b, 24); // nonce, protocol, ports
  b[54] = 0xff;
  b[55] = 0xff;
  Buffer.from(ip).copy(b, 56);
  return b;
}

describe('PCP client', () => {
  test('maps with PCP and renews and deletes with the same nonce', async () => {
    const t = fakeTransport();
    const c = new PcpClient({ transport: t, randomBytes: () => NONCE });
    const p = c.map(40000, 7200);
    const req = t.sent[0] as Uint8Array;
    t.reply(pcpAnswer(req, 0));
    const m = await p;
    assert.deepEqual(
      { protocol: m.protocol, ip: m.externalIp, port: m.externalPort, life: m.lifetimeS },
      { protocol: 'pcp', ip: '198.18.1.2', port: 40000, life: 7200 },
    );
    const del = c.remove(m);
    const delReq = t.sent[1] as Uint8Array;
    assert.deepEqual(Uint8Array.from(delReq.subarray(24, 36)), NONCE);
    assert.equal(Buffer.from(delReq).readUInt32BE(4), 0, 'lifetime 0 deletes');
    t.reply(pcpAnswer(delReq, 0, 0));
    await del;
    c.close();
  });

  test('falls back to NAT-PMP when the gateway answers PCP with an unsupported version', async () => {
    const t = fakeTransport();
    const c = new PcpClient({ transport: t });
    const p = c.map(40000, 7200);
    t.reply(hex('00810001 00000005'));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.from(t.sent[1] as Uint8Array).toString('hex'), '000100009c409c4000001c20');
    t.reply(hex('00810000000000059c409c4000001c20'));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.from(t.sent[2] as Uint8Array).toString('hex'), '0000');
    t.reply(hex('0080000000000005c6120102'));
    const m = await p;
    assert.equal(m.protocol, 'nat-pmp');
    assert.equal(`${m.externalIp}:${m.externalPort}`, '198.18.1.2:40000');
    c.close();
  });

  test('retransmits at 250 ms doubling and gives up at its bound; answers for others are ignored', async () => {
    const clock = new FakeClock();
    const t = fakeTransport();
    const c = new PcpClient({
      transport: t,
      timers: clock.timers,
      now: clock.now,
      transactionMs: 700,
    });
    const p = c.map(40000, 7200);
    const rejected = assert.rejects(
      p,
      (e: unknown) => e instanceof PortMappingError && e.kind === 'timeout',
    );
    t.reply(
      pcpAnswer(
        encodePcpMapRequest({
          clientIp: '10.1.0.2',
          nonce: new Uint8Array(12),
          internalPort: 40000,
          suggestedExternalPort: 0,
          suggestedExternalIp: null,
          lifetimeS: 1,
        }),
        0,
      ),
    );
    await clock.advance(249);
    assert.equal(t.sent.length, 1);
    await clock.advance(1);
    assert.equal(t.sent.length, 2);
    await clock.advance(500);
    await rejected;
    assert.equal(t.sent.length, 2);
    assert.equal(c.unmatched, 1, 'the answer with a stranger nonce was dropped and counted');
    c.close();
  });

  test('error answers and refusals end the request at once with the reason', async () => {
    const t = fakeTransport();
    const c = new PcpClient({ transport: t });
    const p = c.map(40000, 7200);
    t.reply(pcpAnswer(t.sent[0] as Uint8Array, 8, 0, [0, 0, 0, 0]));
    await assert.rejects(p, /PCP: NO_RESOURCES/);
    const t2 = fakeTransport();
    const c2 = new PcpClient({ transport: t2 });
    const p2 = c2.map(40000, 7200);
    t2.refuse();
    await assert.rejects(p2, (e: unknown) => e instanceof PortMappingError && e.kind === 'refused');
    c.close();
    c2.close();
  });
});

describe('PortMapper against a fake PCP gateway on loopback', () => {
  test('maps at start, tells the outcome once, removes the mapping on close', async () => {
    const server = dgram.createSocket('udp4');
    const seen: Buffer[] = [];
    server.on('message', (m, r) => {
      seen.push(m);
      const life = m.readUInt32BE(4);
      server.send(pcpAnswer(m, 0, life === 0 ? 0 : 600, [198, 18, 7, 7]), r.port, r.address);
    });
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    const mapper = new PortMapper({
      internalPort: 41000,
      findGateway: async () => '127.0.0.1',
      openTransport: (gw) => udpGatewayTransport(gw, server.address().port),
      searchUpnp: () => Promise.reject(new Error('no UPnP in this test')),
    });
    const events: unknown[] = [];
    mapper.on('mapped', (m) => events.push(m));
    mapper.on('unavailable', (u) => events.push(u));
    assert.equal(await mapper.current(100), null, 'nothing before start');
    mapper.start();
    const m = await mapper.current(2000);
    assert.deepEqual(
      m && { ip: m.ip, port: m.port, protocol: m.protocol, lifetimeS: m.lifetimeS },
      { ip: '198.18.7.7', port: 41000, protocol: 'pcp', lifetimeS: 600 },
    );
    await mapper.close();
    assert.equal(events.length, 1);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]?.readUInt32BE(4), 0, 'deleted on close');
    assert.equal(await mapper.current(10), null);
    server.close();
  });

  test('a gateway that refuses: unavailable with both reasons, quickly', async () => {
    const mapper = new PortMapper({
      internalPort: 41000,
      findGateway: async () => null,
    });
    const got = new Promise((r) => mapper.on('unavailable', r));
    mapper.start();
    const u = (await got) as { reason: string; gateway: string | null };
    assert.deepEqual([u.reason, u.gateway], ['no default gateway', null]);
    await mapper.close();
  });
});
