// What a call needs from one way of moving its sealed media packets to the peer. Each network
// path has a class of its own that implements it: `RelayMediaPath` (relay frames on the relay's
// UDP plane) and `DirectMediaPath` (QUIC DATAGRAMs on the authenticated direct connection).
// Packets that arrive go to the `onPacket` a path was built with; the call's receiver
// de-duplicates across paths by sequence number, so a path never needs to know about another.
import type { MediaPath } from '../../../src-shared/call-signals.ts';

export interface MediaTransport {
  readonly kind: MediaPath;
  /** Send one sealed media packet. Never throws: media is loss-tolerant, failures are counted. */
  send(packet: Uint8Array): void;
  /** Round trip to the far end of this path as far as we can see it (relay: to the relay). */
  rttMs(): number | null;
  /**
   * Stop sending and receiving on this path; a second call does nothing. `reason` is what the
   * peer is told where the path can say it (the direct path: its QUIC close reason, under the
   * connection's authentication), e.g. a hang-up (see `hangupCloseReason`).
   */
  close(reason?: string): void;
}

/**
 * A hang-up said by closing a path: the direct connection's close reason is authenticated by its
 * mutual TLS, so it carries a hang-up when the relay (the other way signals go) is gone.
 */
const HANGUP_PREFIX = 'wzp-hangup:';

export function hangupCloseReason(reason: string): string {
  return `${HANGUP_PREFIX}${reason}`;
}

/** The hang-up reason a peer's close reason carries, or null when it is no hang-up. */
export function hangupFromCloseReason(closeReason: string): string | null {
  return closeReason.startsWith(HANGUP_PREFIX) ? closeReason.slice(HANGUP_PREFIX.length) : null;
}
