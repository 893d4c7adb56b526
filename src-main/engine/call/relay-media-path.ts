// The relayed media path of one call: frames our sealed media packets for the relay's UDP plane
// under this call's allocation (channel id + key from the relay's media grant) and sends them
// from the endpoint's one socket, so relayed media shares the NAT mapping of everything else.
// Bind frames register our address with the relay and keep the mapping open; their echoes give
// the round trip to the relay.
import type dgram from 'node:dgram';
import type { MediaGrantInfo } from '../signaling/relay-link.ts';
import type { QuicEndpoint } from '../transport/endpoint.ts';
import { RelayMediaChannel, isRelayFrameByte } from '../transport/relay-media-frame.ts';
import type { MediaTransport } from './media-transport.ts';

const BIND_INTERVAL_UNBOUND_MS = 250;
/** Binds keep the NAT mapping and the relay's learned address fresh, and time the relay RTT. */
const BIND_INTERVAL_BOUND_MS = 2_000;

export interface RelayPathStats {
  packetsSent: number;
  packetsReceived: number;
  dropped: number;
  relayRttMs: number | null;
  bound: boolean;
}

export class RelayMediaPath implements MediaTransport {
  readonly kind = 'relay' as const;
  readonly stats: RelayPathStats = {
    packetsSent: 0,
    packetsReceived: 0,
    dropped: 0,
    relayRttMs: null,
    bound: false,
  };
  readonly #endpoint: QuicEndpoint<unknown, unknown>;
  readonly #grant: MediaGrantInfo;
  readonly #channel: RelayMediaChannel;
  readonly #onPacket: (packet: Uint8Array) => void;
  readonly #now: () => number;
  readonly #bindSentAt = new Map<number, number>();
  readonly #unlisten: () => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: {
    endpoint: QuicEndpoint<unknown, unknown>;
    grant: MediaGrantInfo;
    onPacket: (packet: Uint8Array) => void;
    now?: () => number;
  }) {
    this.#endpoint = opts.endpoint;
    this.#grant = opts.grant;
    this.#channel = new RelayMediaChannel(opts.grant.channelId, opts.grant.key);
    this.#onPacket = opts.onPacket;
    this.#now = opts.now ?? (() => performance.now());
    this.#unlisten = this.#endpoint.onNonQuic((data, rinfo) => this.#onDatagram(data, rinfo));
    this.#bind();
  }

  send(packet: Uint8Array): void {
    if (this.#closed) return;
    this.stats.packetsSent++;
    this.#endpoint
      .sendRaw(this.#channel.encodeData(packet), this.#grant.media.port, this.#grant.media.host)
      .catch(() => this.stats.dropped++);
  }

  rttMs(): number | null {
    return this.stats.relayRttMs;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#unlisten();
  }

  #bind(): void {
    if (this.#closed) return;
    const frame = this.#channel.encodeBind();
    this.#bindSentAt.set(frame.readUInt32BE(5), this.#now());
    if (this.#bindSentAt.size > 32) {
      const oldest = this.#bindSentAt.keys().next().value;
      if (oldest !== undefined) this.#bindSentAt.delete(oldest);
    }
    this.#endpoint
      .sendRaw(frame, this.#grant.media.port, this.#grant.media.host)
      .catch(() => undefined);
    this.#timer = setTimeout(
      () => this.#bind(),
      this.stats.bound ? BIND_INTERVAL_BOUND_MS : BIND_INTERVAL_UNBOUND_MS,
    );
    this.#timer.unref();
  }

  #onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port !== this.#grant.media.port || !isRelayFrameByte(data[0])) return;
    const r = this.#channel.receive(data);
    switch (r.kind) {
      case 'data':
        this.stats.packetsReceived++;
        this.#onPacket(r.payload);
        return;
      case 'bind-ack': {
        const sentAt = this.#bindSentAt.get(r.echoedCounter);
        if (sentAt !== undefined) {
          const rtt = this.#now() - sentAt;
          const prev = this.stats.relayRttMs;
          this.stats.relayRttMs = prev === null ? rtt : prev + (rtt - prev) / 4;
          this.#bindSentAt.delete(r.echoedCounter);
        }
        if (!this.stats.bound) {
          this.stats.bound = true;
          if (this.#timer) clearTimeout(this.#timer);
          this.#timer = setTimeout(() => this.#bind(), BIND_INTERVAL_BOUND_MS);
          this.#timer.unref();
        }
        return;
      }
      case 'drop':
        // Another call's channel on the same socket, or junk: not ours to count as loss.
        if (r.reason !== 'wrong-channel') this.stats.dropped++;
        return;
    }
  }
}
