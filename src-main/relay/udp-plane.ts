// Owns the relay's one UDP socket (the STUN port): demultiplexes each datagram by its first
// byte, hands STUN (0x00..0x03) to an injected handler and relay media (0x18..0x1B) to the
// MediaForwarder, sends whatever they return, and counts everything else as dropped. Sharing
// the STUN port is what lets a client reach STUN and relayed media through one NAT mapping.
// An optional second socket, the alternate STUN port (the STUN port + 1 by convention), answers
// Binding requests too, and sends the answers to requests that ask for it (RFC 5780
// CHANGE-REQUEST, change-port): clients use that to learn how deep their own NAT is.
import dgram from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { wantsChangePort } from '../engine/nat/stun-message.ts';
import { isRelayFrameByte } from '../engine/transport/relay-media-frame.ts';
import type { ForwarderCounters, MediaForwarder } from './media-forwarder.ts';

/** Answers one STUN datagram; a non-null result is sent back to the sender. */
export type StunHandler = (buf: Buffer, rinfo: RemoteInfo) => Buffer | null;

export interface UdpPlaneOptions {
  forwarder: MediaForwarder;
  stun?: StunHandler;
  /** 'udp6' bound to '::' also serves IPv4 (dual stack). Default 'udp4'. */
  type?: 'udp4' | 'udp6';
  /** Kernel socket buffers; bursts of many calls overflow the default ~200 kB receive buffer. */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface UdpPlaneCounters {
  datagrams: number;
  stunIn: number;
  stunReplies: number;
  stunErrors: number;
  relayIn: number;
  /** The forwarder threw (it is written not to); the datagram was dropped. */
  forwarderErrors: number;
  /** Neither STUN nor relay media (QUIC to the wrong port, junk). */
  unknown: number;
  sent: number;
  sendErrors: number;
  socketErrors: number;
  forwarder: ForwarderCounters;
}

function isStunByte(b: number | undefined): boolean {
  return b !== undefined && b <= 0x03;
}

export class RelayUdpPlane {
  private readonly forwarder: MediaForwarder;
  private readonly stun: StunHandler | null;
  private readonly socket: Socket;
  private readonly opts: UdpPlaneOptions;
  private alt: Socket | null = null;
  private bound = false;
  private closed = false;
  private readonly c = {
    datagrams: 0,
    stunIn: 0,
    stunReplies: 0,
    stunErrors: 0,
    relayIn: 0,
    forwarderErrors: 0,
    unknown: 0,
    sent: 0,
    sendErrors: 0,
    socketErrors: 0,
  };
  private readonly onSent = (err: Error | null): void => {
    if (err) this.c.sendErrors++;
  };

  constructor(opts: UdpPlaneOptions) {
    this.opts = opts;
    this.forwarder = opts.forwarder;
    this.stun = opts.stun ?? null;
    this.socket = dgram.createSocket({ type: opts.type ?? 'udp4' });
    // A send error or ICMP unreachable must never take the relay down.
    this.socket.on('error', () => {
      this.c.socketErrors++;
    });
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  bind(host: string, port: number): Promise<{ address: string; port: number }> {
    if (this.bound || this.closed)
      return Promise.reject(new Error('udp plane: already bound or closed'));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ address: host, port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.bound = true;
        try {
          if (this.opts.recvBufferSize) this.socket.setRecvBufferSize(this.opts.recvBufferSize);
          if (this.opts.sendBufferSize) this.socket.setSendBufferSize(this.opts.sendBufferSize);
        } catch {
          // The kernel caps buffer sizes (net.core.rmem_max); the default still works.
        }
        resolve(this.address());
      });
    });
  }

  /** Opens the alternate STUN port; failing to is not fatal (clients then punch with a default). */
  bindAlternate(host: string, port: number): Promise<boolean> {
    if (this.alt || this.closed) return Promise.resolve(false);
    const sock = dgram.createSocket({ type: this.opts.type ?? 'udp4' });
    return new Promise((resolve) => {
      sock.once('error', () => {
        try {
          sock.close();
        } catch {
          // never bound
        }
        resolve(false);
      });
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.removeAllListeners('error');
        sock.on('error', () => {
          this.c.socketErrors++;
        });
        sock.on('message', (msg, rinfo) => this.onAltMessage(msg, rinfo));
        this.alt = sock;
        resolve(true);
      });
    });
  }

  /** The alternate STUN port, if open. */
  alternateAddress(): { address: string; port: number } | null {
    if (!this.alt) return null;
    const a = this.alt.address();
    return { address: a.address, port: a.port };
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  counters(): UdpPlaneCounters {
    return { ...this.c, forwarder: this.forwarder.counters() };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const alt = this.alt;
    this.alt = null;
    if (alt) {
      try {
        alt.close();
      } catch {
        // already closed
      }
    }
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    this.c.datagrams++;
    const b = msg[0];
    if (isRelayFrameByte(b)) {
      this.c.relayIn++;
      let out = null;
      try {
        out = this.forwarder.handleDatagram(msg, rinfo);
      } catch {
        // The forwarder is written not to throw; this guard only keeps the socket alive if it does.
        this.c.forwarderErrors++;
      }
      if (out) this.send(out.data, out.port, out.address);
      return;
    }
    if (isStunByte(b) && this.stun) {
      const via = this.alt !== null && wantsChangePort(msg) ? this.alt : this.socket;
      this.answerStun(this.stun, msg, rinfo, via);
      return;
    }
    this.c.unknown++;
  }

  /** The alternate port: STUN only (a client's depth probes land here and are ignored). */
  private onAltMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || !this.alt || !isStunByte(msg[0]) || !this.stun) return;
    this.answerStun(this.stun, msg, rinfo, this.alt);
  }

  /** One STUN request on either port, counted; the answer leaves from `via`. */
  private answerStun(stun: StunHandler, msg: Buffer, rinfo: RemoteInfo, via: Socket): void {
    this.c.stunIn++;
    let reply: Buffer | null = null;
    try {
      reply = stun(msg, rinfo);
    } catch {
      this.c.stunErrors++;
      return;
    }
    if (reply) {
      this.c.stunReplies++;
      this.send(reply, rinfo.port, rinfo.address, via);
    }
  }

  private send(data: Buffer, port: number, address: string, via: Socket = this.socket): void {
    try {
      via.send(data, port, address, this.onSent);
      this.c.sent++;
    } catch {
      this.c.sendErrors++;
    }
  }
}
