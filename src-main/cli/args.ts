// Parsers for command-line values: each returns a typed value or throws a CliError whose message
// names the flag, so a typo becomes one clear line instead of a stack trace.
import {
  parseFingerprint,
  describeFingerprintError,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';
import { CliError } from './cli-error.ts';

export function hostPortArg(
  flag: string,
  allowPortZero = true,
): (value: string) => { host: string; port: number } {
  return (value) => {
    const hp = parseHostPort(value);
    if (!hp || (!allowPortZero && hp.port === 0)) {
      throw new CliError(`${flag} expects HOST:PORT (e.g. 127.0.0.1:7000), got "${value}"`);
    }
    return hp;
  };
}

export function fingerprintArg(flag: string): (value: string) => Fingerprint {
  return (value) => {
    const r = parseFingerprint(value);
    if (!r.ok) throw new CliError(`${flag}: ${describeFingerprintError(r.error)}`);
    return r.value;
  };
}

export function positiveIntArg(
  flag: string,
  max = Number.MAX_SAFE_INTEGER,
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new CliError(`${flag} expects a whole number from 1 to ${max}, got "${value}"`);
    }
    return n;
  };
}

export function positiveNumberArg(flag: string, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new CliError(`${flag} expects a number above 0 and at most ${max}, got "${value}"`);
    }
    return n;
  };
}
