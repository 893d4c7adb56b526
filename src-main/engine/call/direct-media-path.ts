// The direct media path of one call: sealed media packets as QUIC DATAGRAMs on the authenticated
// direct connection a DirectAttempt produced. Its silence (time since anything at all arrived
// from the peer on it: media, pings, pongs) is what the path's supervision (PathState) reads.
import type { DirectConnection } from '../nat/direct-connector.ts';
import type { MediaTransport } from './media-transport.ts';

export class DirectMediaPath implements MediaTransport {
  readonly kind = 'direct' as const;
  readonly #connection: DirectConnection;

  constructor(opts: {
    connection: DirectConnection;
    onPacket: (packet: Uint8Array) => void;
    /**
     * The connection closed (the peer hung up, timed out or went away; or we closed it):
     * `remote` when the peer (or the network) closed it.
     */
    onClosed: (reason: string, remote: boolean) => void;
  }) {
    this.#connection = opts.connection;
    this.#connection.on('media', opts.onPacket);
    this.#connection.on('closed', (info) => opts.onClosed(info.reason, info.remote));
  }

  send(packet: Uint8Array): void {
    void this.#connection.sendMedia(packet);
  }

  rttMs(): number | null {
    return this.#connection.stats().rttMs;
  }

  /** Milliseconds since the peer was last heard on this connection. */
  silenceMs(): number {
    return this.#connection.silenceMs();
  }

  close(reason = 'call over'): void {
    void this.closeAndWait(reason);
  }

  /** Close, resolving once the connection has said so to the peer (or failed to). */
  closeAndWait(reason: string): Promise<void> {
    return this.#connection.close(reason);
  }
}
