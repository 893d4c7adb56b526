// Keeps a network-facing `wzp` process alive through the QUIC library's per-connection failures
// (see isPerConnectionQuicFailure): they are counted and logged, one line each. Every other
// uncaught exception still ends the process, with a one-line message and exit code 70.
import { isPerConnectionQuicFailure } from '../engine/transport/quic-internals.ts';

export interface CrashGuard {
  readonly absorbed: number;
}

export function installCrashGuard(log: (line: string) => void): CrashGuard {
  const state = { absorbed: 0 };
  process.on('uncaughtException', (e) => {
    if (isPerConnectionQuicFailure(e)) {
      state.absorbed++;
      log(
        `wzp: QUIC connection failure absorbed (${state.absorbed}): ${e instanceof Error ? e.message : String(e)}`,
      );
      return;
    }
    process.stderr.write(
      `wzp: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(70);
  });
  return {
    get absorbed() {
      return state.absorbed;
    },
  };
}
