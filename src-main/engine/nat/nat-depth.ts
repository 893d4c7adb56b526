// Learns how many router hops our own NAT layers span, without asking anything of the path to
// the relay: the one number a hole punch needs to open our NAT while dying before the peer's.
//
// For each TTL t = 1..maxTtl, a fresh UDP socket sends an "opener" towards the relay's alternate
// STUN port with IP TTL t, then a full-TTL Binding request to the main STUN port asking for the
// answer from the alternate port (RFC 5780 CHANGE-REQUEST, change-port). Linux-style NAT filters
// by remote address and port, so that answer gets back in only if the opener went all the way
// through every NAT layer of ours and left a mapping towards the alternate port: the smallest
// such t is the depth of our NAT plus one. Where the relay is (2 hops or 20) does not enter:
// the opener may die anywhere past our NAT, and the request travels at full TTL.
// No answer for any t (endpoint-dependent mapping, a relay without an alternate port, no UDP)
// yields null, and the caller falls back to a default.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Address } from '../transport/errors.ts';
import { decodeStun, encodeChangePortRequest, STUN_BINDING_SUCCESS } from './stun-message.ts';

export const MAX_NAT_DEPTH_TTL = 5;
/** Not STUN, relay media or QUIC by its first byte: ignored by the relay's alternate port. */
const OPENER = Uint8Array.from([0x31, 0x77, 0x7a, 0x64]);

export interface NatDepthOptions {
  /** The relay's main STUN address; its alternate port is `port + 1`. */
  stun: Address;
  maxTtl?: number;
  deadlineMs?: number;
  /** Resend opener and request this often until answered or the deadline. */
  retryMs?: number;
}

/** The smallest IP TTL that opens our NAT towards a new remote port, or null if none did. */
export async function probePunchTtl(o: NatDepthOptions): Promise<number | null> {
  const maxTtl = o.maxTtl ?? MAX_NAT_DEPTH_TTL;
  const deadlineMs = o.deadlineMs ?? 700;
  const retryMs = o.retryMs ?? 150;
  const altPort = o.stun.port + 1;
  if (altPort > 65535) return null;
  const type = o.stun.host.includes(':') ? 'udp6' : 'udp4';
  // Every TTL that opens our NAT is answered after about one round trip, so once one is, the
  // smaller ones get a short grace (half that time) instead of the whole deadline.
  const startedAt = performance.now();
  let best: number | null = null;
  let grace: NodeJS.Timeout | null = null;
  let settle: (v: number | null) => void = () => undefined;
  const settled = new Promise<number | null>((r) => (settle = r));
  let left = maxTtl;
  const closers: (() => void)[] = [];
  for (let t = 1; t <= maxTtl; t++) {
    void probeOne(t).then((r) => {
      left--;
      if (r !== null && (best === null || r < best)) best = r;
      if (best === 1 || left === 0) return settle(best);
      if (r !== null && grace === null) {
        const wait = Math.max(20, (performance.now() - startedAt) / 2);
        grace = setTimeout(() => settle(best), wait);
      }
    });
  }
  const result = await settled;
  if (grace) clearTimeout(grace);
  for (const c of closers) c();
  return result;

  function probeOne(ttl: number): Promise<number | null> {
    return new Promise((resolve) => {
      const sock = dgram.createSocket({ type });
      const txid = randomBytes(12);
      const request = encodeChangePortRequest(txid);
      let timer: NodeJS.Timeout | null = null;
      let done = false;
      const finish = (r: number | null) => {
        if (done) return;
        done = true;
        if (timer) clearInterval(timer);
        clearTimeout(deadline);
        try {
          sock.close();
        } catch {
          // already closed
        }
        resolve(r);
      };
      const deadline = setTimeout(() => finish(null), deadlineMs);
      closers.push(() => finish(null));
      const sendPair = () => {
        try {
          sock.setTTL(ttl);
          sock.send(OPENER, altPort, o.stun.host, () => {
            // The request leaves after the opener, so it can never be what opened the way.
            try {
              sock.setTTL(64);
              sock.send(request, o.stun.port, o.stun.host);
            } catch {
              finish(null);
            }
          });
        } catch {
          finish(null);
        }
      };
      sock.on('error', () => finish(null));
      sock.on('message', (msg, rinfo) => {
        // Only an answer from the alternate port proves anything (an old relay answers from
        // the main port, which our request itself opened).
        if (rinfo.port !== altPort) return;
        const m = decodeStun(msg);
        if (typeof m === 'string' || m.type !== STUN_BINDING_SUCCESS) return;
        if (!m.transactionId.equals(txid)) return;
        finish(ttl);
      });
      sock.bind(0, () => {
        sendPair();
        timer = setInterval(sendPair, retryMs);
      });
    });
  }
}
