// The libwebrtc peer of the NAT-lab bench: runs ../shared/peer/webrtc-lab.sh (two headless
// Chromiums behind Linux NAT, their own ICE/DTLS/Opus/NetEq) from a writable temp copy and
// parses the one JSON summary per scenario it prints. Its namespaces (`pr*`) are its own and it
// tears them down itself on exit or SIGTERM; we only ever signal the script we started.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const PEER_DIR = '/work/shared/peer';
/** The team's lock for anything with fixed global names, such as the harness's namespaces. */
const PEER_LOCK = '/work/team/peer.lock';
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const stat = z.object({
  n: z.number(),
  median: z.number().nullable(),
  p95: z.number().nullable(),
});

const scenarioSummarySchema = z
  .object({
    scenario: z.string(),
    calls: z.number().int(),
    connected: z.number().int(),
    iceConnectedMs: stat,
    dtlsConnectedMs: stat,
    gatherMs: stat.optional(),
    failedMs: z.object({ connFailed: stat }).loose().optional(),
    audioAtoB: z
      .object({
        jitterBufferDelayMs: stat,
        mouthToEarMs: stat,
      })
      .loose()
      .optional(),
    meta: z.object({ browser: z.string() }).loose(),
  })
  .loose();
export type PeerScenario = z.infer<typeof scenarioSummarySchema>;

export interface PeerRun {
  ok: boolean;
  /** Why it did not run or what failed (with the tail of its stderr). */
  error?: string;
  scenarios: PeerScenario[];
  /** JSON lines that did not match the expected summary shape (dropped, counted). */
  malformedLines: number;
  wallS: number;
  stderrTail: string;
}

export interface PeerOptions {
  /** Scenario names in the harness's spelling, e.g. "cone-cone+wanfw". */
  scenarios: readonly string[];
  calls: number;
  callSeconds: number;
  timeoutMs: number;
}

/**
 * Runs the harness once. Uses our own node_modules/playwright-core (same version as its lock)
 * through a symlink, so no registry access is needed; without it the harness runs `npm ci`.
 */
export async function runPeer(opts: PeerOptions): Promise<PeerRun> {
  const t0 = Date.now();
  const base: PeerRun = { ok: false, scenarios: [], malformedLines: 0, wallS: 0, stderrTail: '' };
  if (!existsSync(join(PEER_DIR, 'webrtc-lab.sh')))
    return { ...base, error: `${PEER_DIR}/webrtc-lab.sh not found` };
  const tmp = mkdtempSync(join(tmpdir(), 'wzp-bench-peer-'));
  const dir = join(tmp, 'peer');
  try {
    cpSync(PEER_DIR, dir, { recursive: true });
    const ours = join(REPO_ROOT, 'node_modules', 'playwright-core');
    if (existsSync(ours)) {
      mkdirSync(join(dir, 'node_modules'), { recursive: true });
      symlinkSync(ours, join(dir, 'node_modules', 'playwright-core'));
    }
    const args = [
      join(dir, 'webrtc-lab.sh'),
      '--scenarios',
      opts.scenarios.join(' '),
      '--calls',
      String(opts.calls),
      '--call-seconds',
      String(opts.callSeconds),
      '--out',
      join(dir, 'out'),
    ];
    // FAIL_FIRST=1: a scenario whose first call fails (libwebrtc's 15 s ICE timeout) places the
    // rest at once, which bounds the failing cone-cone case to about two timeouts.
    // Its namespaces have fixed names: on the shared machine, one run at a time (the team's
    // lock), taken in a shell that then execs the harness, so our SIGTERM still reaches it.
    const locked = existsSync(dirname(PEER_LOCK))
      ? ['-c', 'exec 9>>"$0" && flock 9 && exec bash "$@"', PEER_LOCK, ...args]
      : args;
    const child = spawn('bash', locked, {
      cwd: dir,
      env: { ...process.env, FAIL_FIRST: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, opts.timeoutMs);
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', (c) => resolve(c));
      child.on('error', () => resolve(null));
    });
    clearTimeout(timer);

    const scenarios: PeerScenario[] = [];
    let malformed = 0;
    for (const line of stdout.split('\n')) {
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        malformed++;
        continue;
      }
      const r = scenarioSummarySchema.safeParse(parsed);
      if (r.success) scenarios.push(r.data);
      else malformed++;
    }
    const stderrTail = stderr.slice(-3000);
    const error = timedOut
      ? `timed out after ${opts.timeoutMs} ms`
      : code !== 0
        ? `webrtc-lab.sh exited with ${code}`
        : undefined;
    return {
      ok: error === undefined && scenarios.length === opts.scenarios.length,
      ...(error !== undefined ? { error } : {}),
      scenarios,
      malformedLines: malformed,
      wallS: Math.round((Date.now() - t0) / 100) / 10,
      stderrTail,
    };
  } catch (e) {
    return {
      ...base,
      error: e instanceof Error ? e.message : String(e),
      wallS: Math.round((Date.now() - t0) / 100) / 10,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The figures of ../shared/peer/README.md (Chromium 156, 10 calls each, measured once, NOT in
 * this run): reported only when the harness cannot run here, and labelled as such.
 */
export const PEER_README_FIGURES = {
  source: `${PEER_DIR}/README.md, measured once on this kind of machine, not in this run`,
  scenarios: {
    'cone-cone': { connected: '0/10', iceDtlsMedianMs: null, mouthToEarMedianMs: null },
    'public-cone': { connected: '10/10', iceDtlsMedianMs: [2.3, 8.7], mouthToEarMedianMs: 38.5 },
    'cone-cone+wanfw': { connected: '10/10', iceDtlsMedianMs: [62, 64], mouthToEarMedianMs: 50 },
  },
} as const;
