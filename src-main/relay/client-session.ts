// A client's connection as the relay holds it: the admission ticket it was let in on, the
// challenge it must sign, its identity's signal bucket, the calls it claimed to resume, and the
// inbound budgets a connection gets before and after it registers. RelayServer owns the
// sessions; RelayState and the CallRouter see them as ClientSessions (something to deliver to,
// or close).
import { randomBytes } from 'node:crypto';
import type { CallId } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { ClientToRelay, RelayToClient } from '../../src-shared/relay-protocol.ts';
import type { TokenBucket } from '../engine/base/token-bucket.ts';
import type { InboundBudgetLimits } from '../engine/transport/inbound-budget.ts';
import type { PeerConnection } from '../engine/transport/peer-connection.ts';
import type { AdmissionTicket } from './admission.ts';
import type { ClientSession } from './relay-state.ts';

/** Enough to say hello and register; nothing more is read from a connection that has not. */
export const UNREGISTERED_BUDGET: InboundBudgetLimits = {
  bytesPerSec: 2048,
  bytesBurst: 4096,
  framesPerSec: 2,
  framesBurst: 4,
  cpuMsPerSec: 20,
  cpuMsBurst: 100,
};

/**
 * A registered client's signals: a subscription of 1,000 contacts (65 kB) fits the burst, a
 * call's signalling is a few kB/s, and no client gets more than a small share of a core.
 */
export const REGISTERED_BUDGET: InboundBudgetLimits = {
  bytesPerSec: 32 * 1024,
  bytesBurst: 256 * 1024,
  framesPerSec: 50,
  framesBurst: 100,
  cpuMsPerSec: 25,
  cpuMsBurst: 250,
};

export const DEFAULT_MAX_QUEUED_SIGNAL_BYTES = 256 * 1024;

export class Session implements ClientSession {
  fingerprint: Fingerprint;
  registered = false;
  readonly nonce = randomBytes(32).toString('base64url');
  /** The identity's signal rate bucket, shared by its reconnects. */
  readonly bucket: TokenBucket;
  registrationTimer: NodeJS.Timeout | null = null;
  /** Calls this client asked to resume (its claims are dropped when it goes). */
  readonly claimed: CallId[] = [];

  constructor(
    readonly id: number,
    readonly conn: PeerConnection<ClientToRelay, RelayToClient>,
    readonly ticket: AdmissionTicket,
    bucket: TokenBucket,
  ) {
    this.fingerprint = conn.peer.fingerprint;
    this.bucket = bucket;
  }

  deliver(message: RelayToClient): void {
    this.conn.sendSignal(message).catch(() => undefined);
  }

  close(reason: string): void {
    void this.conn.close(reason);
  }
}
