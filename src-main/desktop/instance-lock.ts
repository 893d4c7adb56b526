// An owner lock kept as a file: who runs something for a data directory (the web host for a
// profile, the built-in relay for a machine user). The file holds the owner's pid, a random
// instance id and what others need to find it (a URL, an address), is created exclusively (one
// of two racing starts wins) with mode 0600 (it may name a secret URL), and is taken over when
// its owner is gone (no such process) or the file is unreadable. Synchronous on purpose: a host
// decides at start-up, and the release must also run from process 'exit'.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

const LockFileSchema = z.strictObject({
  pid: z.number().int().positive(),
  instance: z.string().max(64),
  startedAt: z.number().int().min(0),
  info: z.record(z.string(), z.string().max(2000)),
});

export type LockInfo = Record<string, string>;

export interface LockOwner {
  pid: number;
  info: LockInfo;
}

export type LockAttempt = { held: true; lock: InstanceLock } | { held: false; owner: LockOwner };

/** Whether a process with this pid exists (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class InstanceLock {
  readonly path: string;
  readonly #instance: string;
  readonly #startedAt = Date.now();
  #released = false;
  readonly #onExit = (): void => this.release();

  private constructor(path: string, instance: string) {
    this.path = path;
    this.#instance = instance;
    process.once('exit', this.#onExit);
  }

  /** Take the lock at `path`, or learn who holds it. */
  static acquire(path: string, info: LockInfo = {}): LockAttempt {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 3; attempt++) {
      const instance = randomBytes(12).toString('base64url');
      const body = JSON.stringify({ pid: process.pid, instance, startedAt: Date.now(), info });
      try {
        const fd = openSync(path, 'wx', 0o600);
        try {
          writeSync(fd, body);
        } finally {
          closeSync(fd);
        }
        return { held: true, lock: new InstanceLock(path, instance) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = InstanceLock.read(path);
      if (owner && processAlive(owner.pid)) return { held: false, owner };
      // A stale lock (its process is gone, or the file is damaged): remove it and try again.
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    const owner = InstanceLock.read(path);
    if (owner) return { held: false, owner };
    throw new Error(`cannot take the lock ${path}`);
  }

  /** The current owner as the file says, or null when there is none or it is unreadable. */
  static read(path: string): LockOwner | null {
    let raw: string;
    try {
      raw = readFileSync(path, 'utf8');
    } catch {
      return null;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return null;
    }
    const r = LockFileSchema.safeParse(parsed);
    return r.success ? { pid: r.data.pid, info: r.data.info } : null;
  }

  /** Replace what the lock tells others (e.g. the URL once the server listens). */
  update(info: LockInfo): void {
    if (this.#released) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body = JSON.stringify({
      pid: process.pid,
      instance: this.#instance,
      startedAt: this.#startedAt,
      info,
    });
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, body);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  /** Give the lock up (idempotent); only removes the file while it is still ours. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    process.removeListener('exit', this.#onExit);
    try {
      const raw = JSON.parse(readFileSync(this.path, 'utf8')) as { instance?: unknown };
      if (raw.instance === this.#instance) unlinkSync(this.path);
    } catch {
      // Gone already, or taken over: nothing of ours to remove.
    }
  }
}
