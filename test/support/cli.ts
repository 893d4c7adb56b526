// Runs the real `wzp` bin as a child process, as users and outside checks do.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { peakRssBytes as peakRss } from './proc-stats.ts';

export const WZP_BIN = fileURLToPath(new URL('../../bin/wzp.mjs', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The largest resident set seen while it ran (sampled every 20 ms; Linux only, else 0). */
  peakRssBytes: number;
}

/** Run `wzp ARGS` to completion. */
export function runWzp(
  args: string[],
  opts: { timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WZP_BIN, ...args], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peakRssBytes = 0;
    const sample = () => {
      try {
        if (child.pid !== undefined) peakRssBytes = Math.max(peakRssBytes, peakRss(child.pid));
      } catch {
        // gone, or not Linux
      }
    };
    const sampler = setInterval(sample, 20);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wzp ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 20000} ms`));
    }, opts.timeoutMs ?? 20000);
    child.on('exit', sample);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      resolve({ code, stdout, stderr, peakRssBytes });
    });
  });
}

/** Start a long-running `wzp` command; JSON lines on stdout are parsed into `events`. */
export class WzpProcess {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  /** `Date.now()` when each entry of `events` was read (same index): the host's clock, so it
   * compares with wall-clock fields the bin prints (e.g. `connected.mediaStartMs`). */
  readonly eventTimes: number[] = [];
  stderr = '';
  #waiters: {
    match: (e: Record<string, unknown>) => boolean;
    resolve: (e: Record<string, unknown>) => void;
  }[] = [];
  #listeners = new Set<(e: Record<string, unknown>, at: number) => void>();
  readonly exited: Promise<number | null>;

  constructor(args: string[], opts: { command?: string[]; env?: NodeJS.ProcessEnv } = {}) {
    const command = opts.command ?? [];
    const [exe, ...pre] = command.length > 0 ? command : [process.execPath];
    this.child = spawn(
      exe as string,
      [...pre, ...(command.length > 0 ? [process.execPath] : []), WZP_BIN, ...args],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
      },
    );
    let buf = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        this.events.push(ev);
        const at = Date.now();
        this.eventTimes.push(at);
        for (const l of [...this.#listeners]) l(ev, at);
        for (const w of [...this.#waiters]) {
          if (w.match(ev)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(ev);
          }
        }
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Calls `listener` for every event read from now on; returns the unsubscribe function. */
  onEvent(listener: (e: Record<string, unknown>, at: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Wait for the first event (already seen or future) that matches. */
  waitFor(
    match: (e: Record<string, unknown>) => boolean,
    timeoutMs = 15000,
    what = 'event',
  ): Promise<Record<string, unknown>> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  waitForEvent(name: string, timeoutMs = 15000): Promise<Record<string, unknown>> {
    return this.waitFor((e) => e.event === name, timeoutMs, `"${name}"`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
