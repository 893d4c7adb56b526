// Typed failures of the transport, so callers (call engine, CLI, UI) can tell a possible
// interception from a network problem and say the right thing to the user.
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';

export interface Address {
  host: string;
  port: number;
}

/** The peer presented a valid certificate for another identity than the one we dialled. */
export class PeerIdentityMismatchError extends Error {
  readonly code = 'peer-identity-mismatch';
  constructor(
    readonly expected: Fingerprint,
    readonly actual: Fingerprint,
    readonly remote: Address,
  ) {
    super(
      `peer at ${remote.host}:${remote.port} is ${actual}, expected ${expected}: possible interception, connection refused`,
    );
    this.name = 'PeerIdentityMismatchError';
  }
}

/** The peer's certificate is not one of ours at all (not Ed25519, not self-signed, unparsable). */
export class PeerCertificateInvalidError extends Error {
  readonly code = 'peer-certificate-invalid';
  constructor(
    readonly reason: string,
    readonly remote: Address,
  ) {
    super(`peer at ${remote.host}:${remote.port} presented an invalid certificate: ${reason}`);
    this.name = 'PeerCertificateInvalidError';
  }
}

/** The far side closed the handshake: it did not accept our identity, or it is not a wzp peer. */
export class PeerRefusedError extends Error {
  readonly code = 'peer-refused';
  constructor(
    readonly remote: Address,
    readonly detail: string,
  ) {
    super(`peer at ${remote.host}:${remote.port} refused the connection (${detail})`);
    this.name = 'PeerRefusedError';
  }
}

export class DialTimeoutError extends Error {
  readonly code = 'dial-timeout';
  constructor(
    readonly remote: Address,
    readonly timeoutMs: number,
  ) {
    super(`no answer from ${remote.host}:${remote.port} within ${timeoutMs} ms`);
    this.name = 'DialTimeoutError';
  }
}

export class DialAbortedError extends Error {
  readonly code = 'dial-aborted';
  constructor(readonly remote: Address) {
    super(`dial to ${remote.host}:${remote.port} was aborted`);
    this.name = 'DialAbortedError';
  }
}

export class SignalTooLargeError extends Error {
  readonly code = 'signal-too-large';
  constructor(
    readonly bytes: number,
    readonly max: number,
  ) {
    super(`signal of ${bytes} bytes exceeds the ${max}-byte limit`);
    this.name = 'SignalTooLargeError';
  }
}

export class ConnectionClosedError extends Error {
  readonly code = 'connection-closed';
  constructor() {
    super('connection is closed');
    this.name = 'ConnectionClosedError';
  }
}

/**
 * The peer has not taken the signals already queued for it (it stopped reading, or reads far
 * slower than we write): the connection is closed rather than let the queue grow without bound.
 */
export class SendQueueFullError extends Error {
  readonly code = 'send-queue-full';
  constructor(
    readonly queuedBytes: number,
    readonly max: number,
  ) {
    super(`peer is not reading: ${queuedBytes} bytes of signals queued (limit ${max})`);
    this.name = 'SendQueueFullError';
  }
}
