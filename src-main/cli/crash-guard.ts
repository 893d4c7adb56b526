// A network-facing `wzp` process: the QUIC library's per-connection failures are absorbed by the
// engine for every host (transport/quic-internals.ts); here they get one stderr line each and
// their count goes on the metrics line. Every other uncaught exception still ends the process,
// with a one-line message and exit code 70.
import {
  onPerConnectionQuicFailure,
  perConnectionQuicFailuresAbsorbed,
} from '../engine/transport/quic-internals.ts';

export interface CrashGuard {
  readonly absorbed: number;
}

export function installCrashGuard(log: (line: string) => void): CrashGuard {
  onPerConnectionQuicFailure((e) =>
    log(
      `wzp: QUIC connection failure absorbed (${perConnectionQuicFailuresAbsorbed()}): ${e.message}`,
    ),
  );
  process.on('uncaughtException', (e) => {
    process.stderr.write(
      `wzp: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(70);
  });
  return {
    get absorbed() {
      return perConnectionQuicFailuresAbsorbed();
    },
  };
}
