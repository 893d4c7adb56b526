// STUN Binding client (RFC 5389) that owns no socket: the caller's one UDP socket (the same one
// QUIC uses, see FINDINGS.md) sends for it and feeds it inbound STUN datagrams. Owns transaction
// ids, retransmission and response matching; the wire format is stun-message.ts.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import {
  STUN_BINDING_REQUEST,
  decodeStun,
  encodeBindingRequest,
  type RemoteInfo,
  type StunMappedAddress,
} from './stun-message.ts';
import { unmapIPv4 } from '../transport/ip-address.ts';
export type StunBindErrorKind =
  'timeout' | 'error-response' | 'bad-response' | 'aborted' | 'send-failed' | 'closed';

export class StunBindError extends Error {
  override readonly name = 'StunBindError';
  constructor(
    readonly kind: StunBindErrorKind,
    message: string,
    readonly details: {
      code?: number;
      reason?: string;
      transmissions?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}

export interface StunTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StunRetransmitOptions {
  /** Initial retransmission timeout; doubles after each transmission (RFC 5389 §7.2.1). */
  rtoMs?: number;
  /** Rc: total transmissions including the first. */
  maxTransmissions?: number;
  /** Rm: after the last transmission, wait this many initial RTOs before giving up. */
  lastWaitFactor?: number;
  /** Hard cap on the whole transaction, whichever comes first. */
  deadlineMs?: number;
}

export interface StunClientOptions extends StunRetransmitOptions {
  send: (buf: Uint8Array, port: number, host: string) => void;
  now?: () => number;
  timers?: StunTimers;
  randomBytes?: (n: number) => Uint8Array;
  /** Drop responses whose source is not the server we asked (when its host is an IP literal). */
  checkSource?: boolean;
}

export interface StunBindResult extends StunMappedAddress {
  /** From the first transmission: exact only when `transmissions` is 1 (Karn's ambiguity). */
  rttMs: number;
  transmissions: number;
  software: string | undefined;
}

export interface StunClientStats {
  transactions: number;
  transmissions: number;
  retransmissions: number;
  successes: number;
  errorResponses: number;
  timeouts: number;
  aborted: number;
  dropped: {
    notStun: number;
    malformed: number;
    unmatched: number;
    wrongSource: number;
    notResponse: number;
  };
}

interface Pending {
  server: { host: string; port: number };
  request: Buffer;
  transmissions: number;
  firstSentAt: number;
  nextWaitMs: number;
  maxTransmissions: number;
  lastWaitMs: number;
  deadlineAt: number;
  timer: unknown;
  finish: (err: StunBindError | null, res?: StunBindResult) => void;
}

const defaultTimers: StunTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

function normalizeIp(a: string): string {
  return unmapIPv4(a).toLowerCase();
}

function positive(name: string, v: number, integer = false): number {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(
      `stun-client: ${name} must be a positive ${integer ? 'integer' : 'number'}`,
    );
  }
  return v;
}

export class StunClient {
  private readonly sendFn: StunClientOptions['send'];
  private readonly now: () => number;
  private readonly timers: StunTimers;
  private readonly random: (n: number) => Uint8Array;
  private readonly checkSource: boolean;
  private readonly defaults: Required<StunRetransmitOptions>;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private readonly counters: StunClientStats = {
    transactions: 0,
    transmissions: 0,
    retransmissions: 0,
    successes: 0,
    errorResponses: 0,
    timeouts: 0,
    aborted: 0,
    dropped: { notStun: 0, malformed: 0, unmatched: 0, wrongSource: 0, notResponse: 0 },
  };

  constructor(opts: StunClientOptions) {
    this.sendFn = opts.send;
    this.now = opts.now ?? (() => performance.now());
    this.timers = opts.timers ?? defaultTimers;
    this.random = opts.randomBytes ?? ((n) => nodeRandomBytes(n));
    this.checkSource = opts.checkSource ?? true;
    this.defaults = {
      rtoMs: positive('rtoMs', opts.rtoMs ?? 100),
      maxTransmissions: positive('maxTransmissions', opts.maxTransmissions ?? 7, true),
      lastWaitFactor: positive('lastWaitFactor', opts.lastWaitFactor ?? 16),
      deadlineMs: positive('deadlineMs', opts.deadlineMs ?? 8000),
    };
  }

  /** Asks `server` what address our datagrams come from. */
  bind(
    server: { host: string; port: number },
    opts: StunRetransmitOptions & { signal?: AbortSignal } = {},
  ): Promise<StunBindResult> {
    if (this.closed) return Promise.reject(new StunBindError('closed', 'STUN client is closed'));
    if (!Number.isInteger(server.port) || server.port < 1 || server.port > 65535) {
      return Promise.reject(new RangeError(`stun-client: bad server port ${server.port}`));
    }
    const signal = opts.signal;
    if (signal?.aborted) {
      this.counters.aborted++;
      return Promise.reject(
        new StunBindError('aborted', 'STUN bind aborted', { cause: signal.reason }),
      );
    }
    let rtoMs: number, maxTx: number, lastFactor: number, deadlineMs: number;
    try {
      rtoMs = positive('rtoMs', opts.rtoMs ?? this.defaults.rtoMs);
      maxTx = positive(
        'maxTransmissions',
        opts.maxTransmissions ?? this.defaults.maxTransmissions,
        true,
      );
      lastFactor = positive('lastWaitFactor', opts.lastWaitFactor ?? this.defaults.lastWaitFactor);
      deadlineMs = positive('deadlineMs', opts.deadlineMs ?? this.defaults.deadlineMs);
    } catch (e) {
      return Promise.reject(e);
    }

    let txid: Buffer;
    do {
      txid = Buffer.from(this.random(12));
      if (txid.length !== 12)
        return Promise.reject(new RangeError('stun-client: randomBytes(12) gave wrong size'));
    } while (this.pending.has(txid.toString('hex')));
    const key = txid.toString('hex');

    return new Promise<StunBindResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.counters.aborted++;
        p.finish(new StunBindError('aborted', 'STUN bind aborted', { cause: signal?.reason }));
      };
      const start = this.now();
      const p: Pending = {
        server: { host: server.host, port: server.port },
        request: encodeBindingRequest(txid),
        transmissions: 0,
        firstSentAt: start,
        nextWaitMs: rtoMs,
        maxTransmissions: maxTx,
        lastWaitMs: rtoMs * lastFactor,
        deadlineAt: start + deadlineMs,
        timer: undefined,
        finish: (err, res) => {
          if (this.pending.get(key) !== p) return;
          this.pending.delete(key);
          if (p.timer !== undefined) this.timers.clearTimeout(p.timer);
          p.timer = undefined;
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else if (res) resolve(res);
        },
      };
      this.pending.set(key, p);
      this.counters.transactions++;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.transmit(p);
    });
  }

  /**
   * Feed an inbound datagram. Returns true when it answered one of our transactions (the
   * caller then knows it was STUN for us); never throws.
   */
  handle(buf: Uint8Array, rinfo: RemoteInfo): boolean {
    const msg = decodeStun(buf);
    if (typeof msg === 'string') {
      if (msg === 'not-stun') this.counters.dropped.notStun++;
      else this.counters.dropped.malformed++;
      return false;
    }
    const cls = msg.type & 0x0110;
    if (cls !== 0x0100 && cls !== 0x0110) {
      this.counters.dropped.notResponse++;
      return false;
    }
    const p = this.pending.get(msg.transactionId.toString('hex'));
    if (p === undefined) {
      this.counters.dropped.unmatched++;
      return false;
    }
    if (this.checkSource && !this.fromServer(p, rinfo)) {
      this.counters.dropped.wrongSource++;
      return false;
    }
    if ((msg.type & 0x3eef) !== STUN_BINDING_REQUEST) {
      // Right transaction, wrong method: not an answer a server would give.
      p.finish(
        new StunBindError('bad-response', `unexpected message type 0x${msg.type.toString(16)}`),
      );
      return true;
    }
    if (cls === 0x0110) {
      this.counters.errorResponses++;
      const e = msg.error ?? { code: 0, reason: '' };
      p.finish(
        new StunBindError('error-response', `STUN error ${e.code} ${e.reason}`.trim(), {
          code: e.code,
          reason: e.reason,
          transmissions: p.transmissions,
        }),
      );
      return true;
    }
    const addr = msg.xorMapped ?? msg.mapped;
    if (addr === undefined) {
      p.finish(new StunBindError('bad-response', 'Binding success without a mapped address'));
      return true;
    }
    this.counters.successes++;
    p.finish(null, {
      ...addr,
      rttMs: Math.max(0, this.now() - p.firstSentAt),
      transmissions: p.transmissions,
      software: msg.software,
    });
    return true;
  }

  /** Rejects every transaction in flight; later binds fail at once. */
  close(): void {
    this.closed = true;
    for (const p of [...this.pending.values()])
      p.finish(new StunBindError('closed', 'STUN client closed'));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  stats(): StunClientStats {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  private fromServer(p: Pending, rinfo: RemoteInfo): boolean {
    if (rinfo.port !== p.server.port) return false;
    if (isIP(p.server.host) === 0) return true; // a name: nothing reliable to compare with
    return normalizeIp(rinfo.address) === normalizeIp(p.server.host);
  }

  private transmit(p: Pending): void {
    try {
      this.sendFn(p.request, p.server.port, p.server.host);
    } catch (e) {
      p.finish(new StunBindError('send-failed', 'sending the STUN request failed', { cause: e }));
      return;
    }
    p.transmissions++;
    this.counters.transmissions++;
    if (p.transmissions > 1) this.counters.retransmissions++;
    const last = p.transmissions >= p.maxTransmissions;
    const wait = last ? p.lastWaitMs : p.nextWaitMs;
    p.nextWaitMs *= 2;
    const remaining = p.deadlineAt - this.now();
    const expire = last || wait >= remaining;
    p.timer = this.timers.setTimeout(
      () => {
        p.timer = undefined;
        if (expire) {
          this.counters.timeouts++;
          p.finish(
            new StunBindError(
              'timeout',
              `no STUN response after ${p.transmissions} transmissions`,
              {
                transmissions: p.transmissions,
              },
            ),
          );
        } else {
          this.transmit(p);
        }
      },
      Math.max(0, Math.min(wait, remaining)),
    );
  }
}
