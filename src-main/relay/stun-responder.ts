// The relay's STUN Binding server logic, without a socket: the relay's UDP port (shared with
// the media plane, demultiplexed by first byte) hands it datagrams and sends back what it
// returns. Owns the answer (XOR-MAPPED-ADDRESS, and SOFTWARE only when configured), the
// request/drop counters, and a rate limit per source: UDP sources can be spoofed, so a server
// that answers everything reflects traffic at whoever the spoofer names. Each source (IPv4
// address or IPv6 /64) gets a small bucket; answers are at most 1.6 times the request's size.
import { isIP } from 'node:net';
import { TokenBucket } from '../engine/base/token-bucket.ts';
import { addressKey } from './admission.ts';
import {
  STUN_BINDING_REQUEST,
  decodeStun,
  encodeBindingSuccess,
  type RemoteInfo,
} from '../engine/nat/stun-message.ts';
import { unmapIPv4 } from '../engine/transport/ip-address.ts';

export type StunDropReason =
  | 'notStun'
  | 'badLength'
  | 'malformed'
  | 'notRequest'
  | 'notBinding'
  | 'badSource'
  | 'rateLimited'
  | 'encodeFailed';

export interface StunResponderStats {
  requests: number;
  answered: number;
  answeredV4: number;
  answeredV6: number;
  dropped: Record<StunDropReason, number>;
}

export interface StunResponderOptions {
  /** SOFTWARE attribute; RFC 5389 caps it at 128 characters. Off by default (amplification). */
  software?: string;
  /** Answers per second per source, on average (default 20) and in a burst (default 40). */
  ratePerSource?: number;
  burstPerSource?: number;
  /** Sources tracked at once; beyond that, new sources share one bucket (default 10 000). */
  maxSources?: number;
  now?: () => number;
}

export class StunResponder {
  private readonly software: string;
  private readonly counters: StunResponderStats = {
    requests: 0,
    answered: 0,
    answeredV4: 0,
    answeredV6: 0,
    dropped: {
      notStun: 0,
      badLength: 0,
      malformed: 0,
      notRequest: 0,
      notBinding: 0,
      badSource: 0,
      rateLimited: 0,
      encodeFailed: 0,
    },
  };
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly overflow: TokenBucket;
  private lastSweep = 0;

  constructor(opts: StunResponderOptions = {}) {
    const sw = opts.software ?? '';
    if (sw.length > 127)
      throw new RangeError('stun-responder: software must be under 128 characters');
    this.software = sw;
    this.rate = opts.ratePerSource ?? 20;
    this.burst = opts.burstPerSource ?? 40;
    this.maxSources = opts.maxSources ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
    this.overflow = new TokenBucket(this.rate, this.burst, this.now);
  }

  /** The response to send back to `rinfo`, or null to stay silent. Never throws. */
  handle(buf: Uint8Array, rinfo: RemoteInfo): Buffer | null {
    try {
      return this.answer(buf, rinfo);
    } catch {
      this.counters.dropped.encodeFailed++;
      return null;
    }
  }

  stats(): StunResponderStats {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  private answer(buf: Uint8Array, rinfo: RemoteInfo): Buffer | null {
    const msg = decodeStun(buf);
    if (msg === 'not-stun') return this.drop('notStun');
    if (msg === 'bad-length') return this.drop('badLength');
    if (msg === 'malformed') return this.drop('malformed');
    if ((msg.type & 0x0110) !== 0) return this.drop('notRequest');
    if (msg.type !== STUN_BINDING_REQUEST) return this.drop('notBinding');
    this.counters.requests++;
    // A peer on a dual-stack socket is told its IPv4 address, the only one that reaches it.
    const address = typeof rinfo.address === 'string' ? unmapIPv4(rinfo.address) : '';
    const family = isIP(address);
    const port = rinfo.port;
    if (family === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      return this.drop('badSource');
    }
    if (!this.bucketOf(address).take()) return this.drop('rateLimited');
    let out: Buffer;
    try {
      out = encodeBindingSuccess(
        msg.transactionId,
        { address, port },
        this.software === '' ? undefined : this.software,
      );
    } catch {
      return this.drop('encodeFailed');
    }
    this.counters.answered++;
    if (family === 4) this.counters.answeredV4++;
    else this.counters.answeredV6++;
    return out;
  }

  /** The source's bucket; refilled buckets are forgotten, so the map holds active sources. */
  private bucketOf(address: string): TokenBucket {
    const key = addressKey(address);
    let b = this.buckets.get(key);
    if (b) return b;
    const t = this.now();
    if (this.buckets.size >= this.maxSources && t - this.lastSweep > 1000) {
      this.lastSweep = t;
      for (const [k, v] of this.buckets) if (v.full) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxSources) return this.overflow;
    b = new TokenBucket(this.rate, this.burst, this.now);
    this.buckets.set(key, b);
    return b;
  }

  private drop(reason: StunDropReason): null {
    this.counters.dropped[reason]++;
    return null;
  }
}
