// The app's outward events: notices and snapshots to the host's listeners. Every part of the
// app service reports through one AppEvents, so many changes in one turn make one snapshot and
// a listener that throws is logged and skipped instead of breaking the part that reported.
import type { IpcEvent, Notice, Snapshot } from '../../src-shared/ipc-contract.ts';
import { errorFields, type Logger } from '../engine/base/logger.ts';

export class AppEvents {
  readonly #listeners = new Set<(e: IpcEvent) => void>();
  readonly #snapshot: () => Snapshot;
  readonly #log: Logger;
  #snapshotQueued = false;
  #stopped = false;

  constructor(snapshot: () => Snapshot, log: Logger) {
    this.#snapshot = snapshot;
    this.#log = log;
  }

  on(listener: (e: IpcEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notice(level: Notice['level'], message: string): void {
    this.#emit({ event: 'notice', payload: { level, message: message.slice(0, 1000) } });
  }

  /** A snapshot after the current turn, however many changes it makes. */
  queueSnapshot(): void {
    if (this.#snapshotQueued) return;
    this.#snapshotQueued = true;
    queueMicrotask(() => {
      this.#snapshotQueued = false;
      if (this.#stopped) return;
      this.#emit({ event: 'snapshot', payload: this.#snapshot() });
    });
  }

  /** Closing: no more snapshots; notices still reach the listeners until `clear`. */
  stopSnapshots(): void {
    this.#stopped = true;
  }

  clear(): void {
    this.#listeners.clear();
  }

  #emit(e: IpcEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.warn(errorFields(err), 'event listener failed');
      }
    }
  }
}
