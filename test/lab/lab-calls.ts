// Owns real calls inside the NAT lab: a `wzp relay` in the public namespace, `wzp answer` and
// `wzp call` in two clients' namespaces (each through `ip netns exec`), their identities and WAV
// files in a temp dir, typed views of the events they print, and teardown (processes first, so
// the caller can destroy the lab after). Inside a namespace the relay is 198.18.0.1 only:
// 127.0.0.1 there is the namespace's own loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Identity, saveIdentity } from '../../src-main/engine/identity/identity.ts';
import { readWav, writeWav } from '../../src-main/engine/media/wav.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { WzpProcess } from '../support/cli.ts';
import { buildLab, RELAY_IP } from './netns-lab.ts';
import type { Lab, LabClient } from './netns-lab.ts';
import type { ScenarioName, TopologySpec } from './topologies.ts';

export const LAB_RELAY_QUIC_PORT = 7000;
export const LAB_RELAY_STUN_PORT = 3478;

export interface HostPort {
  host: string;
  port: number;
}

export type WzpEvent = Record<string, unknown>;
export type CallSide = 'caller' | 'callee';

// --- Event shapes (from a child's stdout: checked, never trusted) ----------------------------

const hostPortText = z.string().regex(/^[0-9.]+:\d{1,5}$/);

export const listeningEventSchema = z.object({
  event: z.literal('listening'),
  quic: hostPortText,
  stun: hostPortText,
  fingerprint: z.string().min(1),
});

export const connectedEventSchema = z.object({
  event: z.literal('connected'),
  path: z.enum(['relay', 'direct']),
  callId: z.string(),
  peer: z.string(),
  mediaStartMs: z.number(),
});
export type ConnectedEvent = z.infer<typeof connectedEventSchema>;

export const pathEventSchema = z.object({
  event: z.literal('path'),
  path: z.enum(['relay', 'direct']),
  reason: z.string(),
});

export const endedEventSchema = z.object({
  event: z.literal('ended'),
  reason: z.string(),
  detail: z.string().optional(),
  framesSent: z.number().int().nonnegative(),
  framesReceived: z.number().int().nonnegative(),
  framesConcealed: z.number().int().nonnegative(),
  durationS: z.number().nonnegative(),
});
export type EndedEvent = z.infer<typeof endedEventSchema>;

export const statsEventSchema = z
  .object({
    event: z.literal('stats'),
    path: z.enum(['relay', 'direct']).nullable(),
    rttMs: z.number().nullable(),
    lossPct: z.number(),
    jitterMs: z.number().nullable(),
    bitrateKbps: z.number(),
    framesConcealed: z.number(),
  })
  .loose();
export type StatsEvent = z.infer<typeof statsEventSchema>;

/** A media path change as seen by the host, with when it was read. */
export interface PathChange {
  path: 'relay' | 'direct';
  reason: string;
  /** Host `Date.now()` when the line was read. */
  at: number;
  /** `at` minus the time the side's `connected` line was read (NaN before `connected`). */
  sinceConnectedMs: number;
}

// --- Waiting on events ---------------------------------------------------------------------

function describeProc(proc: WzpProcess): string {
  return `events: ${JSON.stringify(proc.events)}; stderr: ${proc.stderr.slice(-4000)}`;
}

/**
 * The first event named `event` (already printed or still to come) for which `pred` holds.
 * Rejects at once if the process exits without printing it, or after `timeoutMs`.
 */
export function waitFor(
  proc: WzpProcess,
  event: string,
  pred: (e: WzpEvent) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<WzpEvent> {
  const match = (e: WzpEvent) => e.event === event && pred(e);
  const seen = proc.events.find(match);
  if (seen !== undefined) return Promise.resolve(seen);
  return new Promise<WzpEvent>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, e?: WzpEvent) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      if (err !== null) reject(err);
      else resolve(e as WzpEvent);
    };
    const timer = setTimeout(
      () =>
        finish(
          new Error(
            `timed out after ${timeoutMs} ms waiting for "${event}"; ${describeProc(proc)}`,
          ),
        ),
      timeoutMs,
    );
    const off = proc.onEvent((e) => {
      if (match(e)) finish(null, e);
    });
    // stdout is fully read before 'close', so an exit without the event means it never comes.
    void proc.exited.then((code) => {
      const late = proc.events.find(match);
      if (late !== undefined) finish(null, late);
      else finish(new Error(`wzp exited (${code}) without "${event}"; ${describeProc(proc)}`));
    });
  });
}

function parseHostPortText(s: string): HostPort {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

// --- The relay --------------------------------------------------------------------------------

export interface LabRelay {
  proc: WzpProcess;
  /** The namespace it runs in (`lab.public.relayNs`). */
  ns: string;
  fingerprint: Fingerprint;
  quic: HostPort;
  stun: HostPort;
  /** "198.18.0.1:7000": what clients pass to --relay. */
  relayArg: string;
  identityFile: string;
  stop(): Promise<void>;
}

export interface LabRelayOptions {
  quicPort?: number;
  stunPort?: number;
  /** Relay log level on stderr (default: $WZP_TEST_RELAY_LOG or 'warn'). */
  logLevel?: string;
  extraArgs?: readonly string[];
}

/** Runs `wzp relay` on 198.18.0.1 inside the lab's relay host namespace and waits until it listens. */
export async function startLabRelay(lab: Lab, opts: LabRelayOptions = {}): Promise<LabRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'wzp-lab-relay-'));
  const identityFile = join(dir, 'relay.json');
  saveIdentity(identityFile, Identity.generate());
  const proc = new WzpProcess(
    [
      'relay',
      '--listen',
      `${RELAY_IP}:${opts.quicPort ?? LAB_RELAY_QUIC_PORT}`,
      '--stun',
      `${RELAY_IP}:${opts.stunPort ?? LAB_RELAY_STUN_PORT}`,
      '--identity',
      identityFile,
      '--json',
      '--log-level',
      opts.logLevel ?? process.env.WZP_TEST_RELAY_LOG ?? 'warn',
      ...(opts.extraArgs ?? []),
    ],
    { command: ['ip', 'netns', 'exec', lab.public.relayNs] },
  );
  const stop = async () => {
    await proc.stop('SIGTERM', 3000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ev = listeningEventSchema.parse(await waitFor(proc, 'listening', undefined, 30_000));
    const quic = parseHostPortText(ev.quic);
    return {
      proc,
      ns: lab.public.relayNs,
      fingerprint: ev.fingerprint as Fingerprint,
      quic,
      stun: parseHostPortText(ev.stun),
      relayArg: `${quic.host}:${quic.port}`,
      identityFile,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

// --- Calls ------------------------------------------------------------------------------------

export interface LabCallOptions {
  /** Lab client names ('a', 'b', ...). */
  caller: string;
  callee: string;
  /** The caller hangs up after this many seconds of call (`--seconds`). */
  seconds: number;
  /** A running relay; when absent one is started and stopped by `close()`. */
  relay?: LabRelay;
  /** What each side plays as its microphone: a WAV path or 48 kHz mono PCM. */
  play?: { caller?: string | Int16Array; callee?: string | Int16Array };
  /** Record what each side hears (default true); read it with `recording(side)`. */
  record?: boolean;
  /** Extra CLI arguments: one list for both sides, or one per side (e.g. `['--no-direct']`). */
  extraArgs?: readonly string[] | { caller?: readonly string[]; callee?: readonly string[] };
  /** How long the callee may take to register and print `waiting` (default 30 s). */
  startTimeoutMs?: number;
}

export interface LabCallEnd {
  caller: EndedEvent;
  callee: EndedEvent;
  callerCode: number | null;
  calleeCode: number | null;
}

export interface LabCall {
  lab: Lab;
  relay: LabRelay;
  /** The temp dir with identities, played and recorded WAVs (removed by `close()`). */
  dir: string;
  caller: WzpProcess;
  callee: WzpProcess;
  clients: { caller: LabClient; callee: LabClient };
  fingerprints: { caller: Fingerprint; callee: Fingerprint };
  proc(side: CallSide): WzpProcess;
  /** `waitFor` above, on a process or a side. */
  waitFor(
    who: WzpProcess | CallSide,
    event: string,
    pred?: (e: WzpEvent) => boolean,
    timeoutMs?: number,
  ): Promise<WzpEvent>;
  /** The side's `connected` event, validated. */
  connected(side: CallSide, timeoutMs?: number): Promise<ConnectedEvent>;
  /** Every `path` event the side printed so far, with host receipt times. */
  pathChanges(side: CallSide): PathChange[];
  /** Every `stats` event the side printed so far (malformed ones are left out). */
  stats(side: CallSide): StatsEvent[];
  /** Both `ended` events and both exit codes (default timeout: seconds + 30 s). */
  ended(timeoutMs?: number): Promise<LabCallEnd>;
  /** Where the side records what it hears. */
  recordingPath(side: CallSide): string;
  /** What the side heard (48 kHz mono); read after `ended()`, when the file is complete. */
  recording(side: CallSide): Int16Array;
  /** Stops both processes (SIGTERM, then SIGKILL), the relay if this call started it, rm dir. */
  close(): Promise<void>;
}

function sideArgs(extra: LabCallOptions['extraArgs'], side: CallSide): readonly string[] {
  if (extra === undefined) return [];
  if (Array.isArray(extra)) return extra as readonly string[];
  return (extra as { caller?: readonly string[]; callee?: readonly string[] })[side] ?? [];
}

/**
 * Starts `wzp answer` in the callee's namespace, waits until it is registered and waiting, then
 * starts `wzp call` in the caller's. Returns at once after that: wait on the handles.
 */
export async function startLabCall(lab: Lab, opts: LabCallOptions): Promise<LabCall> {
  const clients = { caller: lab.client(opts.caller), callee: lab.client(opts.callee) };
  if (clients.caller.name === clients.callee.name) throw new Error('caller and callee must differ');
  const dir = mkdtempSync(join(tmpdir(), 'wzp-lab-call-'));
  const ownRelay = opts.relay === undefined;
  let relay: LabRelay | undefined = opts.relay;
  const procs: WzpProcess[] = [];
  const close = async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM', 3000)));
    if (ownRelay) await relay?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    relay ??= await startLabRelay(lab);
    const ids = { caller: Identity.generate(), callee: Identity.generate() };
    const record = opts.record ?? true;
    const args = (side: CallSide): string[] => {
      const idFile = join(dir, `${side}.json`);
      saveIdentity(idFile, ids[side]);
      const out = [
        '--relay',
        (relay as LabRelay).relayArg,
        '--relay-fingerprint',
        (relay as LabRelay).fingerprint,
        '--identity',
        idFile,
        '--json',
      ];
      const play = opts.play?.[side];
      if (play !== undefined) {
        let file = play;
        if (typeof play !== 'string') {
          file = join(dir, `${side}-play.wav`);
          writeWav(file, play);
        }
        out.push('--play', file as string);
      }
      if (record) out.push('--record', join(dir, `${side}-heard.wav`));
      out.push(...sideArgs(opts.extraArgs, side));
      return out;
    };
    const inNs = (c: LabClient) => ({ command: ['ip', 'netns', 'exec', c.ns] });

    const callee = new WzpProcess(['answer', ...args('callee')], inNs(clients.callee));
    procs.push(callee);
    await waitFor(callee, 'waiting', undefined, opts.startTimeoutMs ?? 30_000);
    const caller = new WzpProcess(
      ['call', ids.callee.fingerprint, ...args('caller'), '--seconds', String(opts.seconds)],
      inNs(clients.caller),
    );
    procs.push(caller);

    const proc = (side: CallSide) => (side === 'caller' ? caller : callee);
    const resolve = (who: WzpProcess | CallSide) => (typeof who === 'string' ? proc(who) : who);
    const connectedAt = (p: WzpProcess): number => {
      const i = p.events.findIndex((e) => e.event === 'connected');
      return i < 0 ? Number.NaN : (p.eventTimes[i] ?? Number.NaN);
    };
    const recordingPath = (side: CallSide) => join(dir, `${side}-heard.wav`);

    return {
      lab,
      relay,
      dir,
      caller,
      callee,
      clients,
      fingerprints: { caller: ids.caller.fingerprint, callee: ids.callee.fingerprint },
      proc,
      waitFor: (who, event, pred, timeoutMs) => waitFor(resolve(who), event, pred, timeoutMs),
      connected: async (side, timeoutMs = 30_000) =>
        connectedEventSchema.parse(await waitFor(proc(side), 'connected', undefined, timeoutMs)),
      pathChanges: (side) => {
        const p = proc(side);
        const t0 = connectedAt(p);
        const out: PathChange[] = [];
        p.events.forEach((e, i) => {
          const r = pathEventSchema.safeParse(e);
          if (!r.success) return;
          const at = p.eventTimes[i] ?? Number.NaN;
          out.push({ path: r.data.path, reason: r.data.reason, at, sinceConnectedMs: at - t0 });
        });
        return out;
      },
      stats: (side) =>
        proc(side).events.flatMap((e) => {
          const r = statsEventSchema.safeParse(e);
          return r.success ? [r.data] : [];
        }),
      ended: async (timeoutMs = (opts.seconds + 30) * 1000) => {
        const [c, d] = await Promise.all([
          waitFor(caller, 'ended', undefined, timeoutMs),
          waitFor(callee, 'ended', undefined, timeoutMs),
        ]);
        const [callerCode, calleeCode] = await Promise.all([caller.exited, callee.exited]);
        return {
          caller: endedEventSchema.parse(c),
          callee: endedEventSchema.parse(d),
          callerCode,
          calleeCode,
        };
      },
      recordingPath,
      recording: (side) => readWav(recordingPath(side)).samples,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Builds a lab, runs `fn`, and destroys the lab whatever happens (after `fn`'s own cleanup). */
export async function withLab<T>(
  scenario: ScenarioName | TopologySpec,
  fn: (lab: Lab) => Promise<T>,
): Promise<T> {
  const lab = await buildLab(scenario);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

/**
 * A whole call in a fresh lab: builds it, starts relay and call, runs `fn`, then closes the call
 * (processes killed) before destroying the lab, in every outcome.
 */
export async function withLabCall<T>(
  scenario: ScenarioName | TopologySpec,
  opts: LabCallOptions,
  fn: (call: LabCall) => Promise<T>,
): Promise<T> {
  return withLab(scenario, async (lab) => {
    const call = await startLabCall(lab, opts);
    try {
      return await fn(call);
    } finally {
      await call.close();
    }
  });
}
