// Owns the relay's media allocations and the forwarding decision for each relay-media datagram
// (DESIGN.md "Relayed media"): who may send (a granted channel and its MAC key), from where (the
// address learned from the newest authentic frame), how much (a token bucket per identity), and
// to whom (the other party of the same call, re-framed under that party's key). No I/O: the UDP
// plane feeds datagrams in and sends what comes out; the clock is injected.
//
// A call whose parties are on two relays of a cluster has a trunk on each relay in place of the
// remote party's allocation: the peer relay is that allocation's "client". It sends the client
// frame format (ClientData) on the channel and key this relay granted it (carried over NATS), and
// this relay sends to it on the channel and key that relay granted in turn. The payload is
// copied through untouched, so the end-to-end layer is the same on one relay or two.
// Why one file of about 480 lines: local allocations and trunks take the same forwarding
// decision for every datagram, with one set of drop counters.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  RELAY_COUNTER_MAX,
  RELAY_FRAME_HEADER_LEN,
  RELAY_FRAME_MAC_LEN,
  RELAY_KEY_LEN,
  RelayFrameType,
  encodeRelayFrame,
  isFromClientType,
  parseRelayFrameHeader,
  relayReplayWindow,
  verifyRelayFrameMac,
} from '../engine/transport/relay-media-frame.ts';
import type { ReplayWindow } from '../engine/media/replay-window.ts';
import { TokenBucket } from '../engine/base/token-bucket.ts';

export const DROP_REASONS = [
  'malformed',
  'unknownChannel',
  'badMac',
  'replay',
  'rateLimited',
  'peerAddressUnknown',
  'counterExhausted',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export type DropCounts = Record<DropReason, number>;

export interface MediaForwarderOptions {
  /** Milliseconds, monotonic. */
  now?: () => number;
  /** Per identity, across all its allocations. Default 64 000 bytes/s (datagram bytes). */
  rateBytesPerSec?: number;
  /** Per identity, across all its allocations. Default 200 packets/s. */
  ratePacketsPerSec?: number;
  /** Bucket depth in milliseconds of the rate. Default 500 ms. */
  burstMs?: number;
  /** Refuse grants beyond this many live allocations. Default 200 000. */
  maxAllocations?: number;
  /** Source of channel ids and keys; injectable for deterministic tests. */
  randomBytes?: (n: number) => Buffer;
}

export interface MediaGrant {
  channelId: number;
  /** 32-byte key the party uses to MAC its frames and verify the relay's. */
  key: Buffer;
}

export interface Endpoint {
  address: string;
  port: number;
}

/** One datagram to send: the plane sends `data` to `address:port` from its socket. */
export interface ForwardAction extends Endpoint {
  data: Buffer;
}

export interface PartyStats {
  fingerprint: string;
  channelId: number;
  address: Endpoint | null;
  /** Authentic, fresh frames (media and binds) received from this party. */
  rxFrames: number;
  rxBytes: number;
  /** Frames the relay sent to this party (forwarded media and bind acks). */
  txFrames: number;
  txBytes: number;
  drops: DropCounts;
}

export interface CallStats {
  callId: string;
  parties: PartyStats[];
}

export interface ForwarderCounters {
  received: number;
  forwarded: number;
  bindAcks: number;
  allocations: number;
  calls: number;
  /** Live trunks (calls with the other party on another relay) and their frames. */
  trunks: number;
  trunkIn: number;
  trunkOut: number;
  drops: DropCounts;
}

export type MediaGrantErrorCode = 'bad-argument' | 'call-full' | 'capacity';

/** Thrown by grant() only; the datagram path never throws. */
export class MediaGrantError extends Error {
  readonly code: MediaGrantErrorCode;
  constructor(code: MediaGrantErrorCode, message: string) {
    super(message);
    this.name = 'MediaGrantError';
    this.code = code;
  }
}

/** One identity's media budget, shared by all its allocations: both buckets must admit a frame. */
interface Budget {
  packets: TokenBucket;
  bytes: TokenBucket;
  refs: number;
}

/** How this relay sends to the peer relay of a trunk: what that relay granted us. */
export interface TrunkPeer {
  channelId: number;
  key: Buffer;
  address: string;
  port: number;
}

interface Allocation {
  callId: string;
  fingerprint: string;
  /** Set on a trunk: the peer relay's channel and key, null until it has told us. */
  trunk: { channelId: number; key: Buffer; counter: number } | null;
  isTrunk: boolean;
  channelId: number;
  key: Buffer;
  window: ReplayWindow;
  address: Endpoint | null;
  /** Next counter the relay uses on frames it sends to this party. */
  relayCounter: number;
  lastActivity: number;
  budget: Budget;
  peer: Allocation | null;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  drops: DropCounts;
}

const MAX_ID_LEN = 256;

function zeroDrops(): DropCounts {
  return {
    malformed: 0,
    unknownChannel: 0,
    badMac: 0,
    replay: 0,
    rateLimited: 0,
    peerAddressUnknown: 0,
    counterExhausted: 0,
  };
}

export class MediaForwarder {
  private readonly now: () => number;
  private readonly rateBytes: number;
  private readonly ratePackets: number;
  private readonly capBytes: number;
  private readonly capPackets: number;
  private readonly maxAllocations: number;
  private readonly random: (n: number) => Buffer;
  private readonly byChannel = new Map<number, Allocation>();
  private readonly byCall = new Map<string, Allocation[]>();
  private readonly budgets = new Map<string, Budget>();
  private readonly drops = zeroDrops();
  private received = 0;
  private forwarded = 0;
  private bindAcks = 0;
  private trunks = 0;
  private trunkIn = 0;
  private trunkOut = 0;

  constructor(opts: MediaForwarderOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.rateBytes = opts.rateBytesPerSec ?? 64_000;
    this.ratePackets = opts.ratePacketsPerSec ?? 200;
    const burstMs = opts.burstMs ?? 500;
    for (const [name, v] of [
      ['rateBytesPerSec', this.rateBytes],
      ['ratePacketsPerSec', this.ratePackets],
      ['burstMs', burstMs],
    ] as const) {
      if (!(Number.isFinite(v) && v > 0))
        throw new MediaGrantError('bad-argument', `${name} must be > 0`);
    }
    // A bucket must hold at least one full-size frame, or a big frame could never pass.
    this.capBytes = Math.max((this.rateBytes * burstMs) / 1000, 1500);
    this.capPackets = Math.max((this.ratePackets * burstMs) / 1000, 1);
    this.maxAllocations = opts.maxAllocations ?? 200_000;
    this.random = opts.randomBytes ?? nodeRandomBytes;
  }

  /**
   * Creates (or returns the existing) allocation of `partyFingerprint` in `callId`. The two
   * allocations of one call are each other's peers; a third party is refused.
   */
  grant(callId: string, partyFingerprint: string): MediaGrant {
    return this.allocate(callId, partyFingerprint, false);
  }

  /**
   * Opens the trunk of `callId` towards the peer relay holding `remoteParty`: an allocation the
   * peer relay sends that party's frames to (the returned channel and key go to it over NATS).
   * Idempotent, like grant().
   */
  openTrunk(callId: string, remoteParty: string): MediaGrant {
    return this.allocate(callId, remoteParty, true);
  }

  /** Tells the trunk of `callId` where and how to send: what the peer relay granted. */
  connectTrunk(callId: string, peer: TrunkPeer): boolean {
    const t = this.byCall.get(callId)?.find((a) => a.isTrunk);
    if (!t || peer.key.length !== RELAY_KEY_LEN) return false;
    if (t.trunk && t.trunk.channelId === peer.channelId && t.trunk.key.equals(peer.key))
      return true;
    t.trunk = { channelId: peer.channelId, key: Buffer.from(peer.key), counter: 0 };
    t.address = { address: peer.address, port: peer.port };
    return true;
  }

  private allocate(callId: string, partyFingerprint: string, isTrunk: boolean): MediaGrant {
    if (typeof callId !== 'string' || callId.length === 0 || callId.length > MAX_ID_LEN) {
      throw new MediaGrantError(
        'bad-argument',
        'callId must be a non-empty string of at most 256 chars',
      );
    }
    if (
      typeof partyFingerprint !== 'string' ||
      partyFingerprint.length === 0 ||
      partyFingerprint.length > MAX_ID_LEN
    ) {
      throw new MediaGrantError(
        'bad-argument',
        'partyFingerprint must be a non-empty string of at most 256 chars',
      );
    }
    const parties = this.byCall.get(callId) ?? [];
    // Idempotent so a control-plane retry does not strand the first grant's key.
    const existing = parties.find(
      (a) => a.fingerprint === partyFingerprint && a.isTrunk === isTrunk,
    );
    if (existing) return { channelId: existing.channelId, key: Buffer.from(existing.key) };
    if (parties.length >= 2)
      throw new MediaGrantError('call-full', `call ${callId} already has two parties`);
    if (this.byChannel.size >= this.maxAllocations)
      throw new MediaGrantError('capacity', 'relay allocation limit reached');

    let channelId = 0;
    do {
      channelId = this.random(4).readUInt32BE(0);
    } while (channelId === 0 || this.byChannel.has(channelId));
    const key = this.random(RELAY_KEY_LEN);
    if (key.length !== RELAY_KEY_LEN)
      throw new MediaGrantError('bad-argument', 'randomBytes returned a short key');

    let budget = this.budgets.get(partyFingerprint);
    if (!budget) {
      budget = {
        packets: new TokenBucket(this.ratePackets, this.capPackets, this.now),
        bytes: new TokenBucket(this.rateBytes, this.capBytes, this.now),
        refs: 0,
      };
      this.budgets.set(partyFingerprint, budget);
    }
    budget.refs++;

    const alloc: Allocation = {
      callId,
      fingerprint: partyFingerprint,
      trunk: null,
      isTrunk,
      channelId,
      key: Buffer.from(key),
      window: relayReplayWindow(),
      address: null,
      relayCounter: 0,
      lastActivity: this.now(),
      budget,
      peer: null,
      rxFrames: 0,
      rxBytes: 0,
      txFrames: 0,
      txBytes: 0,
      drops: zeroDrops(),
    };
    const other = parties[0];
    if (other) {
      other.peer = alloc;
      alloc.peer = other;
    }
    parties.push(alloc);
    this.byCall.set(callId, parties);
    this.byChannel.set(channelId, alloc);
    if (isTrunk) this.trunks++;
    return { channelId, key: Buffer.from(key) };
  }

  /** Removes every allocation of the call; returns whether there were any. */
  revoke(callId: string): boolean {
    const parties = this.byCall.get(callId);
    if (!parties) return false;
    for (const a of parties) {
      this.byChannel.delete(a.channelId);
      if (a.isTrunk) this.trunks--;
      a.budget.refs--;
      if (a.budget.refs <= 0) this.budgets.delete(a.fingerprint);
      a.peer = null;
    }
    this.byCall.delete(callId);
    return true;
  }

  /**
   * Revokes calls with no authentic frame from either party for `maxIdleMs`, so allocations
   * whose control connection died without a revoke do not live forever. Returns their ids.
   */
  sweepIdle(maxIdleMs: number): string[] {
    const t = this.now();
    const idle: string[] = [];
    for (const [callId, parties] of this.byCall) {
      if (parties.every((a) => t - a.lastActivity > maxIdleMs)) idle.push(callId);
    }
    for (const id of idle) this.revoke(id);
    return idle;
  }

  /**
   * Decides what to do with one relay-media datagram from `from`. Returns the datagram to send
   * (forwarded media to the peer, or a bind ack to the sender) or null if it was dropped.
   * Never throws.
   */
  handleDatagram(buf: Buffer, from: Endpoint): ForwardAction | null {
    this.received++;
    const h = parseRelayFrameHeader(buf);
    if (!h.ok || !isFromClientType(h.header.type)) return this.drop('malformed', null);
    const { type, channelId, counter } = h.header;
    const alloc = this.byChannel.get(channelId);
    if (!alloc) return this.drop('unknownChannel', null);
    if (
      type === RelayFrameType.ClientBind &&
      (alloc.isTrunk || buf.length !== RELAY_FRAME_HEADER_LEN + RELAY_FRAME_MAC_LEN)
    ) {
      // A peer relay never binds: it knows where we are from the grant.
      return this.drop('malformed', alloc);
    }
    // The window check is cheap and stale replays are the commonest junk: do it before the MAC.
    if (alloc.window.check(counter) !== 'ok') return this.drop('replay', alloc);
    if (!verifyRelayFrameMac(buf, alloc.key)) return this.drop('badMac', alloc);

    // Only the newest authentic frame moves the address: a delayed frame from before a NAT
    // rebinding must not pull the allocation back to a dead mapping. An on-path attacker who
    // races a copy of a fresh frame can hold the address only until the next genuine frame,
    // and gains nothing but end-to-end encrypted payload.
    const newest = counter > alloc.window.highest;
    alloc.window.accept(counter);
    const t = this.now();
    alloc.lastActivity = t;
    if (
      newest &&
      (alloc.address === null ||
        alloc.address.port !== from.port ||
        alloc.address.address !== from.address)
    ) {
      alloc.address = { address: from.address, port: from.port };
    }
    alloc.rxFrames++;
    alloc.rxBytes += buf.length;

    if (!this.take(alloc.budget, buf.length, t)) return this.drop('rateLimited', alloc);

    if (type === RelayFrameType.ClientBind) {
      const to = alloc.address;
      if (to === null) return this.drop('peerAddressUnknown', alloc);
      if (alloc.relayCounter > RELAY_COUNTER_MAX) return this.drop('counterExhausted', alloc);
      const echo = Buffer.allocUnsafe(4);
      echo.writeUInt32BE(counter, 0);
      const data = encodeRelayFrame(
        RelayFrameType.RelayBindAck,
        alloc.channelId,
        alloc.relayCounter++,
        echo,
        alloc.key,
      );
      alloc.txFrames++;
      alloc.txBytes += data.length;
      this.bindAcks++;
      return { data, address: to.address, port: to.port };
    }

    const peer = alloc.peer;
    if (peer === null || peer.address === null) return this.drop('peerAddressUnknown', alloc);
    const payload = buf.subarray(RELAY_FRAME_HEADER_LEN, buf.length - RELAY_FRAME_MAC_LEN);
    if (alloc.isTrunk) this.trunkIn++;
    if (peer.isTrunk) {
      const t = peer.trunk;
      if (t === null) return this.drop('peerAddressUnknown', alloc);
      if (t.counter > RELAY_COUNTER_MAX) return this.drop('counterExhausted', alloc);
      const data = encodeRelayFrame(
        RelayFrameType.ClientData,
        t.channelId,
        t.counter++,
        payload,
        t.key,
      );
      peer.txFrames++;
      peer.txBytes += data.length;
      this.forwarded++;
      this.trunkOut++;
      return { data, address: peer.address.address, port: peer.address.port };
    }
    if (peer.relayCounter > RELAY_COUNTER_MAX) return this.drop('counterExhausted', alloc);
    const data = encodeRelayFrame(
      RelayFrameType.RelayData,
      peer.channelId,
      peer.relayCounter++,
      payload,
      peer.key,
    );
    peer.txFrames++;
    peer.txBytes += data.length;
    this.forwarded++;
    return { data, address: peer.address.address, port: peer.address.port };
  }

  callStats(callId: string): CallStats | undefined {
    const parties = this.byCall.get(callId);
    if (!parties) return undefined;
    return {
      callId,
      parties: parties.map((a) => ({
        fingerprint: a.fingerprint,
        channelId: a.channelId,
        address: a.address ? { ...a.address } : null,
        rxFrames: a.rxFrames,
        rxBytes: a.rxBytes,
        txFrames: a.txFrames,
        txBytes: a.txBytes,
        drops: { ...a.drops },
      })),
    };
  }

  counters(): ForwarderCounters {
    return {
      received: this.received,
      forwarded: this.forwarded,
      bindAcks: this.bindAcks,
      allocations: this.byChannel.size,
      calls: this.byCall.size,
      trunks: this.trunks,
      trunkIn: this.trunkIn,
      trunkOut: this.trunkOut,
      drops: { ...this.drops },
    };
  }

  private take(b: Budget, bytes: number, t: number): boolean {
    if (b.packets.available(t) < 1 || b.bytes.available(t) < bytes) return false;
    return b.packets.take(1, t) && b.bytes.take(bytes, t);
  }

  private drop(reason: DropReason, alloc: Allocation | null): null {
    this.drops[reason]++;
    if (alloc) alloc.drops[reason]++;
    return null;
  }
}
