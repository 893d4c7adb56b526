// Typed failures of the transport, so callers (call engine, CLI, UI) can tell a possible
// interception from a network problem and say the right thing to the user.
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { CodedError } from '../base/coded-error.ts';

export interface Address {
  host: string;
  port: number;
}

/** The peer presented a valid certificate for another identity than the one we dialled. */
export class PeerIdentityMismatchError extends CodedError<'peer-identity-mismatch'> {
  constructor(
    readonly expected: Fingerprint,
    readonly actual: Fingerprint,
    readonly remote: Address,
  ) {
    super(
      'peer-identity-mismatch',
      `peer at ${remote.host}:${remote.port} is ${actual}, expected ${expected}: possible interception, connection refused`,
    );
  }
}

/** The peer's certificate is not one of ours at all (not Ed25519, not self-signed, unparsable). */
export class PeerCertificateInvalidError extends CodedError<'peer-certificate-invalid'> {
  constructor(
    readonly reason: string,
    readonly remote: Address,
  ) {
    super(
      'peer-certificate-invalid',
      `peer at ${remote.host}:${remote.port} presented an invalid certificate: ${reason}`,
    );
  }
}

/** The far side closed the handshake: it did not accept our identity, or it is not a wzp peer. */
export class PeerRefusedError extends CodedError<'peer-refused'> {
  constructor(
    readonly remote: Address,
    readonly detail: string,
  ) {
    super(
      'peer-refused',
      `peer at ${remote.host}:${remote.port} refused the connection (${detail})`,
    );
  }
}

export class DialTimeoutError extends CodedError<'dial-timeout'> {
  constructor(
    readonly remote: Address,
    readonly timeoutMs: number,
  ) {
    super('dial-timeout', `no answer from ${remote.host}:${remote.port} within ${timeoutMs} ms`);
  }
}

export class DialAbortedError extends CodedError<'dial-aborted'> {
  constructor(readonly remote: Address) {
    super('dial-aborted', `dial to ${remote.host}:${remote.port} was aborted`);
  }
}

export class SignalTooLargeError extends CodedError<'signal-too-large'> {
  constructor(
    readonly bytes: number,
    readonly max: number,
  ) {
    super('signal-too-large', `signal of ${bytes} bytes exceeds the ${max}-byte limit`);
  }
}

export class ConnectionClosedError extends CodedError<'connection-closed'> {
  constructor() {
    super('connection-closed', 'connection is closed');
  }
}

/**
 * The peer has not taken the signals already queued for it (it stopped reading, or reads far
 * slower than we write): the connection is closed rather than let the queue grow without bound.
 */
export class SendQueueFullError extends CodedError<'send-queue-full'> {
  constructor(
    readonly queuedBytes: number,
    readonly max: number,
  ) {
    super(
      'send-queue-full',
      `peer is not reading: ${queuedBytes} bytes of signals queued (limit ${max})`,
    );
  }
}
