// The one error type command handlers throw: its code and message go back to the renderer as
// the contract's IpcError. Anything else thrown inside a handler is reported as 'internal'.
import type { ErrorCode } from '../../src-shared/ipc-contract.ts';
import { CodedError } from '../engine/base/coded-error.ts';

export class AppError extends CodedError<ErrorCode> {}
