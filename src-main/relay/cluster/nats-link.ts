// The relay's one connection to NATS (the official client, @nats-io/transport-node): connects in
// the background and keeps reconnecting for ever, says when the link goes up or down, and never
// lets NATS's state reach the relay as an exception. While the link is down nothing is queued:
// publishes are dropped and counted (a signal hours late is worse than none) and requests fail
// at once, so the relay degrades to serving its own clients instead of waiting on NATS.
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { TypedEmitter } from '../../engine/base/typed-emitter.ts';

export type NatsLinkEvents = {
  up: [{ server: string; first: boolean }];
  down: [{ reason: string }];
};

export interface NatsLinkOptions {
  servers: string[];
  /** Shown by the NATS server's monitoring as the client's name. */
  name: string;
  /** How often the client pings the server; two unanswered pings mark the link down. */
  pingIntervalMs?: number;
  reconnectWaitMs?: number;
}

export type RequestOutcome =
  | { kind: 'reply'; data: Uint8Array }
  | { kind: 'no-responders' }
  | { kind: 'timeout' }
  | { kind: 'down' };

type Handler = (data: Uint8Array, reply: ((data: Uint8Array) => void) | null) => void;

const encoder = new TextEncoder();

/**
 * The client takes credentials as options, not from the URL: `nats://user:password@host:port`
 * (or `nats://token@host:port`) is split here into the servers and the credentials.
 */
export function natsConnectTarget(urls: readonly string[]): {
  servers: string[];
  auth: { user: string; pass: string } | { token: string } | null;
} {
  let auth: { user: string; pass: string } | { token: string } | null = null;
  const servers = urls.map((u) => {
    const m = /^([a-z]+:\/\/)([^@/]+)@(.+)$/.exec(u);
    if (!m) return u;
    const [, scheme, cred, rest] = m as unknown as [string, string, string, string];
    const colon = cred.indexOf(':');
    auth =
      colon < 0
        ? { token: decodeURIComponent(cred) }
        : {
            user: decodeURIComponent(cred.slice(0, colon)),
            pass: decodeURIComponent(cred.slice(colon + 1)),
          };
    return `${scheme}${rest}`;
  });
  return { servers, auth };
}

export class NatsLink extends TypedEmitter<NatsLinkEvents> {
  readonly #opts: NatsLinkOptions;
  #nc: NatsConnection | null = null;
  #up = false;
  #closed = false;
  #subs = new Map<string, { handler: Handler; sub: Subscription | null }>();
  #lastFailure: string | null = null;
  readonly counters = { published: 0, dropped: 0, received: 0, linkDowns: 0, errors: 0 };

  constructor(opts: NatsLinkOptions) {
    super();
    this.#opts = opts;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Starts connecting; returns at once (the relay serves its own clients meanwhile). */
  start(): void {
    void this.#connect();
  }

  publish(subject: string, message: unknown): boolean {
    const nc = this.#nc;
    if (!nc || !this.#up) {
      this.counters.dropped++;
      return false;
    }
    try {
      nc.publish(subject, encoder.encode(JSON.stringify(message)));
      this.counters.published++;
      return true;
    } catch {
      this.counters.errors++;
      return false;
    }
  }

  async request(subject: string, message: unknown, timeoutMs: number): Promise<RequestOutcome> {
    const nc = this.#nc;
    if (!nc || !this.#up) {
      this.counters.dropped++;
      return { kind: 'down' };
    }
    try {
      this.counters.published++;
      const m = await nc.request(subject, encoder.encode(JSON.stringify(message)), {
        timeout: timeoutMs,
      });
      return { kind: 'reply', data: m.data };
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (/no responders/i.test(text)) return { kind: 'no-responders' };
      if (/timeout/i.test(text)) return { kind: 'timeout' };
      this.counters.errors++;
      return { kind: 'down' };
    }
  }

  /** Listens on `subject` from now on (across reconnects) until the returned function runs. */
  subscribe(subject: string, handler: Handler): () => void {
    const entry = { handler, sub: null as Subscription | null };
    this.#subs.get(subject)?.sub?.unsubscribe();
    this.#subs.set(subject, entry);
    if (this.#nc) entry.sub = this.#attach(this.#nc, subject, handler);
    return () => {
      if (this.#subs.get(subject) !== entry) return;
      this.#subs.delete(subject);
      try {
        entry.sub?.unsubscribe();
      } catch {
        // Already closed with the connection.
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const nc = this.#nc;
    this.#nc = null;
    this.#up = false;
    if (!nc) return;
    try {
      // Sends what is already written (a goodbye), then closes.
      await nc.drain();
    } catch {
      await nc.close().catch(() => undefined);
    }
  }

  async #connect(): Promise<void> {
    let nc: NatsConnection;
    const { servers, auth } = natsConnectTarget(this.#opts.servers);
    // The client waits for the first connection without a word: say it once it takes too long.
    const slow = setTimeout(() => this.#failed(`cannot reach NATS at ${servers.join(', ')}`), 2500);
    slow.unref();
    try {
      nc = await connect({
        ...auth,
        servers,
        name: this.#opts.name,
        noEcho: true,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.#opts.reconnectWaitMs ?? 500,
        reconnectJitter: 200,
        pingInterval: this.#opts.pingIntervalMs ?? 2000,
        maxPingOut: 2,
        timeout: 2000,
      });
    } catch (e) {
      // waitOnFirstConnect retries an unreachable server for ever; this is a refusal (bad
      // credentials, TLS): say it once per distinct reason, and keep trying.
      clearTimeout(slow);
      this.counters.errors++;
      this.#failed(e instanceof Error ? e.message : String(e));
      if (!this.#closed) setTimeout(() => void this.#connect(), 2000).unref();
      return;
    }
    clearTimeout(slow);
    if (this.#closed) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.#nc = nc;
    this.#lastFailure = null;
    for (const [subject, entry] of this.#subs) entry.sub = this.#attach(nc, subject, entry.handler);
    this.#up = true;
    this.emit('up', { server: nc.getServer(), first: true });
    void this.#watchStatus(nc);
    void nc.closed().then(() => {
      if (this.#nc !== nc || this.#closed) return;
      // Closed for good by the client (not expected with unlimited reconnects): start over.
      this.#nc = null;
      this.#markDown('connection closed');
      setTimeout(() => void this.#connect(), 1000).unref();
    });
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (this.#closed || this.#nc !== nc) return;
        if (s.type === 'disconnect' || s.type === 'staleConnection') {
          this.#markDown(s.type === 'disconnect' ? `disconnected from ${s.server}` : 'stale');
        } else if (s.type === 'reconnect') {
          this.#up = true;
          this.emit('up', { server: s.server, first: false });
        } else if (s.type === 'error') {
          this.counters.errors++;
        }
      }
    } catch {
      this.counters.errors++;
    }
  }

  /** Not connected yet: told once per distinct reason. */
  #failed(reason: string): void {
    if (this.#closed || this.#up || reason === this.#lastFailure) return;
    this.#lastFailure = reason;
    this.emit('down', { reason });
  }

  #markDown(reason: string): void {
    if (!this.#up) return;
    this.#up = false;
    this.counters.linkDowns++;
    this.emit('down', { reason });
  }

  #attach(nc: NatsConnection, subject: string, handler: Handler): Subscription | null {
    try {
      return nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            this.counters.errors++;
            return;
          }
          this.counters.received++;
          const reply = msg.reply
            ? (data: Uint8Array) => {
                try {
                  msg.respond(data);
                } catch {
                  this.counters.errors++;
                }
              }
            : null;
          try {
            handler(msg.data, reply);
          } catch {
            // A handler is written not to throw; this keeps the subscription alive if it does.
            this.counters.errors++;
          }
        },
      });
    } catch {
      this.counters.errors++;
      return null;
    }
  }
}
