// Relay capacity: how many concurrent relayed calls one relay process forwards at < 1 % added
// loss, and its p99 forwarding delay, beside a plain UDP forwarder (no MAC, no lookups) measured
// in the same run. Each call is two parties sending 50 frames/s of 120-byte payload each way.
// The forwarder under test runs in a child process (this same file, started with an argument) so
// the load generator does not share its event loop; its CPU time normalises capacity to calls
// per core. Loopback only; the whole run is bounded to about a minute.
//
// The ladder is shared with `bench cluster` (measureCapacity): its 'cluster' mode puts the two
// parties of each call on two relay processes joined by media trunks, as two relays of a
// cluster carry a call between their clients, and counts both processes' CPU.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, BenchRow } from './bench-types.ts';
import { DROP_REASONS, MediaForwarder } from '../../src-main/relay/media-forwarder.ts';
import type { ForwarderCounters } from '../../src-main/relay/media-forwarder.ts';
import { RelayUdpPlane } from '../../src-main/relay/udp-plane.ts';
import {
  RelayFrameType,
  RelayMediaChannel,
} from '../../src-main/engine/transport/relay-media-frame.ts';

export type Mode = 'relay' | 'plain' | 'cluster';
/** What a child process runs: a relay, the plain floor, or one relay of a trunked pair. */
type ChildMode = 'relay' | 'plain' | 'trunk';

const HOST = '127.0.0.1';
const FRAMES_PER_SEC = 50;
const PAYLOAD_LEN = 120;
const WIRE_LEN = PAYLOAD_LEN + 17; // the relay frame's size; the plain baseline sends the same
const STEP_MS = 2000;
const DRAIN_MS = 300;
const LOSS_LIMIT = 0.01;
// A saturated forwarder queues first (4 MB of socket buffer is thousands of frames) and loses
// later, so its p99 climbs to hundreds of ms; 50 ms separates that from scheduler noise.
const P99_LIMIT_MS = 50;
const BUDGET_MS = 55_000;
const LADDER = [50, 100, 200, 400, 800, 1600, 3200, 6400];
const GEN_SOCKETS = 32;
const SOCK_BUF = 4 * 1024 * 1024;

// ---------------------------------------------------------------- child: the forwarder under test

interface WireGrant {
  channelId: number;
  key: string;
}
type ToChild =
  | { op: 'grant'; id: number; from: number; to: number }
  | { op: 'grant-half'; id: number; from: number; to: number; side: 'a' | 'b' }
  | { op: 'connect'; id: number; from: number; trunks: WireGrant[]; port: number }
  | { op: 'cpu'; id: number }
  | { op: 'exit' };
type FromChild =
  | { op: 'ready'; port: number }
  | { op: 'granted'; id: number; grants: WireGrant[]; trunks?: WireGrant[] }
  | { op: 'connected'; id: number }
  | { op: 'cpu'; id: number; user: number; system: number; forwarder: ForwarderCounters | null };

const wire = (g: { channelId: number; key: Buffer }): WireGrant => ({
  channelId: g.channelId,
  key: g.key.toString('hex'),
});

function isToChild(m: unknown): m is ToChild {
  return (
    typeof m === 'object' &&
    m !== null &&
    'op' in m &&
    typeof (m as { op: unknown }).op === 'string'
  );
}

async function childMain(mode: ChildMode): Promise<void> {
  const reply = (m: FromChild): void => {
    process.send?.(m);
  };
  let port: number;
  let fwd: MediaForwarder | null = null;
  if (mode === 'relay' || mode === 'trunk') {
    fwd = new MediaForwarder();
    const plane = new RelayUdpPlane({
      forwarder: fwd,
      recvBufferSize: SOCK_BUF,
      sendBufferSize: SOCK_BUF,
    });
    port = (await plane.bind(HOST, 0)).port;
  } else {
    // The floor: one receive, read the destination port from the datagram, one send.
    const sock = dgram.createSocket('udp4');
    sock.on('error', () => undefined);
    sock.on('message', (m) => {
      if (m.length >= 3) sock.send(m, m.readUInt16BE(1), HOST);
    });
    await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
    sock.setRecvBufferSize(SOCK_BUF);
    sock.setSendBufferSize(SOCK_BUF);
    port = sock.address().port;
  }
  process.on('message', (m: unknown) => {
    if (!isToChild(m)) return;
    if (m.op === 'exit') process.exit(0);
    if (m.op === 'cpu') {
      const u = process.cpuUsage();
      reply({
        op: 'cpu',
        id: m.id,
        user: u.user,
        system: u.system,
        forwarder: fwd ? fwd.counters() : null,
      });
    } else if (m.op === 'grant' && fwd) {
      const grants: WireGrant[] = [];
      for (let c = m.from; c < m.to; c++) {
        for (const party of ['a', 'b'])
          grants.push(wire(fwd.grant(`call-${c}`, `party-${c}-${party}`)));
      }
      reply({ op: 'granted', id: m.id, grants });
    } else if (m.op === 'grant-half' && fwd) {
      // This relay holds one party of each call; the other party is on the peer relay.
      const other = m.side === 'a' ? 'b' : 'a';
      const grants: WireGrant[] = [];
      const trunks: WireGrant[] = [];
      for (let c = m.from; c < m.to; c++) {
        grants.push(wire(fwd.grant(`call-${c}`, `party-${c}-${m.side}`)));
        trunks.push(wire(fwd.openTrunk(`call-${c}`, `party-${c}-${other}`)));
      }
      reply({ op: 'granted', id: m.id, grants, trunks });
    } else if (m.op === 'connect' && fwd) {
      m.trunks.forEach((t, i) =>
        fwd.connectTrunk(`call-${m.from + i}`, {
          channelId: t.channelId,
          key: Buffer.from(t.key, 'hex'),
          address: HOST,
          port: m.port,
        }),
      );
      reply({ op: 'connected', id: m.id });
    }
  });
  process.on('disconnect', () => process.exit(0));
  reply({ op: 'ready', port });
}

// ---------------------------------------------------------------- parent: the load generator

export class Child {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: FromChild) => void>();
  port = 0;

  constructor(mode: ChildMode) {
    this.proc = fork(fileURLToPath(import.meta.url), [mode], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'], // stdout belongs to run.ts's JSON
    });
    this.proc.on('message', (m: FromChild) => {
      if (m.op === 'ready') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.(m);
    });
  }

  /** The forwarder's process id, for /proc figures (bench soak). */
  get pid(): number {
    return this.proc.pid as number;
  }

  ready(): Promise<void> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('relay child did not start in 15 s')), 15_000);
      this.proc.once('error', rej);
      this.proc.on('message', (m: FromChild) => {
        if (m.op === 'ready') {
          clearTimeout(t);
          this.port = m.port;
          res();
        }
      });
    });
  }

  private ask(
    m:
      | { op: 'grant'; from: number; to: number }
      | { op: 'grant-half'; from: number; to: number; side: 'a' | 'b' }
      | { op: 'connect'; from: number; trunks: WireGrant[]; port: number }
      | { op: 'cpu' },
  ): Promise<FromChild> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`relay child did not answer ${m.op}`)), 10_000);
      this.waiting.set(id, (r) => {
        clearTimeout(t);
        res(r);
      });
      this.proc.send({ ...m, id });
    });
  }

  async grant(from: number, to: number): Promise<WireGrant[]> {
    const r = await this.ask({ op: 'grant', from, to });
    return r.op === 'granted' ? r.grants : [];
  }

  async grantHalf(
    from: number,
    to: number,
    side: 'a' | 'b',
  ): Promise<{ grants: WireGrant[]; trunks: WireGrant[] }> {
    const r = await this.ask({ op: 'grant-half', from, to, side });
    return r.op === 'granted'
      ? { grants: r.grants, trunks: r.trunks ?? [] }
      : { grants: [], trunks: [] };
  }

  async connect(from: number, trunks: WireGrant[], port: number): Promise<void> {
    await this.ask({ op: 'connect', from, trunks, port });
  }

  async cpu(): Promise<{ us: number; forwarder: ForwarderCounters | null }> {
    const r = await this.ask({ op: 'cpu' });
    return r.op === 'cpu'
      ? { us: r.user + r.system, forwarder: r.forwarder }
      : { us: 0, forwarder: null };
  }

  stop(): void {
    if (this.proc.connected) this.proc.send({ op: 'exit' });
    setTimeout(() => {
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }, 1000).unref();
  }
}

export interface StepResult {
  mode: Mode;
  calls: number;
  sent: number;
  received: number;
  lossPct: number;
  sendRatePct: number;
  p50Ms: number;
  p99Ms: number;
  relayCpuPct: number;
  generatorCpuPct: number;
  callsPerCore: number;
  verifyFailures: number;
  drops?: Record<string, number>;
  pass: boolean;
  why?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ] as number;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

export class Generator {
  readonly mode: Mode;
  /** One forwarder; in 'cluster' mode two, party a of every call on the first, b on the second. */
  readonly children: Child[];
  private socks: Socket[] = [];
  private sockPorts: number[] = [];
  private chans: RelayMediaChannel[] = [];
  /** Per child (channel ids are only unique within one forwarder). */
  private partyByChannel: Map<number, number>[] = [];
  private acked: Uint8Array = new Uint8Array(0);
  private parties = 0;
  private stepId = 0;
  private received = 0;
  private verifyFailures = 0;
  private delays = new Float64Array(0);
  private sendTimes = new Float64Array(0);
  private nDelays = 0;
  private readonly payload = Buffer.alloc(PAYLOAD_LEN);

  constructor(mode: Mode) {
    this.mode = mode;
    this.children =
      mode === 'cluster' ? [new Child('trunk'), new Child('trunk')] : [new Child(mode)];
    this.partyByChannel = this.children.map(() => new Map());
  }

  async start(): Promise<void> {
    await Promise.all(this.children.map((c) => c.ready()));
    for (let i = 0; i < GEN_SOCKETS; i++) {
      const s = dgram.createSocket('udp4');
      const child = i % this.children.length;
      s.on('error', () => undefined);
      s.on('message', (m) => this.onMessage(m, child));
      await new Promise<void>((r) => s.bind(0, HOST, () => r()));
      s.setRecvBufferSize(SOCK_BUF);
      s.setSendBufferSize(SOCK_BUF);
      // Party p sends from socket p % GEN_SOCKETS: even parties (a) to the first relay.
      const port = (this.children[child] as Child).port;
      await new Promise<void>((r) => s.connect(port, HOST, () => r()));
      this.socks.push(s);
      this.sockPorts.push(s.address().port);
    }
  }

  stop(): void {
    for (const s of this.socks) s.close();
    for (const c of this.children) c.stop();
  }

  private onMessage(m: Buffer, child: number): void {
    const t = performance.now();
    const byChannel = this.partyByChannel[child] as Map<number, number>;
    if (m[0] === RelayFrameType.RelayBindAck) {
      const p = byChannel.get(m.readUInt32BE(1));
      if (p !== undefined) this.acked[p] = 1;
      return;
    }
    if (m.length !== WIRE_LEN || m.readUInt16LE(13) !== this.stepId) return;
    this.received++;
    const seq = m.readUInt32LE(9);
    if (seq < this.sendTimes.length && this.nDelays < this.delays.length)
      this.delays[this.nDelays++] = t - (this.sendTimes[seq] as number);
    // Check a sample of the relay's frames under the receiver's key, so a relay that forwarded
    // junk fast would show up here rather than as a fine capacity.
    if (this.mode !== 'plain' && (this.received & 255) === 0) {
      const p = byChannel.get(m.readUInt32BE(1));
      const ch = p === undefined ? undefined : this.chans[p];
      if (!ch || ch.receive(m).kind !== 'data') this.verifyFailures++;
    }
  }

  private async addParties(calls: number): Promise<void> {
    const want = calls * 2;
    if (want <= this.parties) return;
    if (this.mode !== 'plain') {
      const from = this.parties / 2;
      const acked = new Uint8Array(want);
      acked.set(this.acked);
      this.acked = acked;
      const add = (p: number, child: number, g: WireGrant) => {
        this.chans[p] = new RelayMediaChannel(g.channelId, Buffer.from(g.key, 'hex'));
        this.partyByChannel[child]?.set(g.channelId, p);
      };
      if (this.mode === 'relay') {
        const grants = await (this.children[0] as Child).grant(from, calls);
        grants.forEach((g, i) => add(this.parties + i, 0, g));
      } else {
        const [ra, rb] = this.children as [Child, Child];
        const [a, b] = await Promise.all([
          ra.grantHalf(from, calls, 'a'),
          rb.grantHalf(from, calls, 'b'),
        ]);
        // What NATS carries in a real cluster: each relay's trunk grant, to the other relay.
        await Promise.all([
          ra.connect(from, b.trunks, rb.port),
          rb.connect(from, a.trunks, ra.port),
        ]);
        a.grants.forEach((g, i) => add(this.parties + 2 * i, 0, g));
        b.grants.forEach((g, i) => add(this.parties + 2 * i + 1, 1, g));
      }
      // Bind the new parties so the relay learns their addresses, in paced chunks.
      for (let attempt = 0; attempt < 3; attempt++) {
        for (let p = this.parties; p < want; p++) {
          if (this.acked[p]) continue;
          (this.socks[p % GEN_SOCKETS] as Socket).send(
            (this.chans[p] as RelayMediaChannel).encodeBind(),
          );
          if (p % 400 === 0) await sleep(2);
        }
        const until = performance.now() + 1000;
        while (performance.now() < until && this.acked.subarray(this.parties, want).includes(0))
          await sleep(10);
        if (!this.acked.subarray(this.parties, want).includes(0)) break;
      }
    }
    this.parties = want;
  }

  /**
   * Builds every frame of the step ahead of time, so the generator's per-frame cost during the
   * step is one send in both modes (the clients' MAC is not what is being measured). The payload
   * carries a sequence number; send times are recorded when each frame actually leaves.
   */
  private prepare(nParties: number, count: number): Buffer[] {
    const frames: Buffer[] = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      const p = i % nParties;
      this.payload.writeUInt32LE(i, 0);
      this.payload.writeUInt16LE(this.stepId, 4);
      if (this.mode !== 'plain') {
        frames[i] = (this.chans[p] as RelayMediaChannel).encodeData(this.payload);
      } else {
        const b = Buffer.alloc(WIRE_LEN);
        b[0] = 0x18;
        b.writeUInt16BE(this.sockPorts[(p ^ 1) % GEN_SOCKETS] as number, 1);
        this.payload.copy(b, 9);
        frames[i] = b;
      }
    }
    return frames;
  }

  /** CPU time of every forwarder process, and their counters added up. */
  private async cpu(): Promise<{ us: number; forwarder: ForwarderCounters | null }> {
    const all = await Promise.all(this.children.map((c) => c.cpu()));
    const us = all.reduce((n, c) => n + c.us, 0);
    const fwds = all.map((c) => c.forwarder).filter((f): f is ForwarderCounters => f !== null);
    if (fwds.length === 0) return { us, forwarder: null };
    const drops = Object.fromEntries(
      DROP_REASONS.map((k) => [k, fwds.reduce((n, f) => n + f.drops[k], 0)]),
    ) as ForwarderCounters['drops'];
    return { us, forwarder: { ...(fwds[0] as ForwarderCounters), drops } };
  }

  async step(calls: number): Promise<StepResult> {
    await this.addParties(calls);
    const nParties = calls * 2;
    const rate = nParties * FRAMES_PER_SEC;
    const expected = Math.ceil((rate * STEP_MS) / 1000);
    this.stepId = (this.stepId + 1) & 0xffff;
    const frames = this.prepare(nParties, expected);
    this.received = 0;
    this.verifyFailures = 0;
    this.sendTimes = new Float64Array(expected);
    this.delays = new Float64Array(expected);
    this.nDelays = 0;
    const c0 = await this.cpu();
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    let sent = 0;
    const maxBurst = Math.max(1, Math.ceil(rate / 100)); // 10 ms worth per tick at most
    for (;;) {
      const now = performance.now();
      const el = now - t0;
      if (el >= STEP_MS) break;
      const due = Math.min(expected, Math.floor((el * rate) / 1000) + 1);
      let burst = 0;
      while (sent < due && burst < maxBurst) {
        this.sendTimes[sent] = performance.now();
        (this.socks[(sent % nParties) % GEN_SOCKETS] as Socket).send(frames[sent] as Buffer);
        sent++;
        burst++;
      }
      // Frames still due after a burst go out on later ticks; falling behind for the whole step
      // shows as a send rate below nominal, which marks the step as generator-limited.
      await sleep(1);
    }
    const wall = performance.now() - t0;
    const g1 = process.cpuUsage(g0);
    const c1 = await this.cpu();
    await sleep(DRAIN_MS);
    const delays = this.delays.subarray(0, this.nDelays).sort();
    const cpuFrac = (c1.us - c0.us) / 1000 / wall;
    const loss = sent > 0 ? Math.max(0, 1 - this.received / sent) : 1;
    const r: StepResult = {
      mode: this.mode,
      calls,
      sent,
      received: this.received,
      lossPct: round(loss * 100, 3),
      sendRatePct: round((100 * sent) / expected, 1),
      p50Ms: round(pct(delays, 50), 3),
      p99Ms: round(pct(delays, 99), 3),
      relayCpuPct: round(cpuFrac * 100, 1),
      generatorCpuPct: round((g1.user + g1.system) / 10 / wall, 1),
      callsPerCore: cpuFrac > 0 ? Math.round(calls / cpuFrac) : 0,
      verifyFailures: this.verifyFailures,
      pass: true,
    };
    if (c0.forwarder && c1.forwarder) {
      const before = c0.forwarder.drops;
      const d: Record<string, number> = {};
      for (const k of DROP_REASONS) d[k] = c1.forwarder.drops[k] - before[k];
      r.drops = d;
    }
    if (r.sendRatePct < 95) [r.pass, r.why] = [false, 'load generator could not keep the rate'];
    else if (loss > LOSS_LIMIT) [r.pass, r.why] = [false, 'loss above 1 %'];
    else if (!(r.p99Ms <= P99_LIMIT_MS)) [r.pass, r.why] = [false, `p99 above ${P99_LIMIT_MS} ms`];
    else if (r.verifyFailures > 0) [r.pass, r.why] = [false, 'relay frames failed verification'];
    return r;
  }
}

export interface CapacityLadder {
  steps: StepResult[];
  best: Partial<Record<Mode, StepResult>>;
  firstFail: Partial<Record<Mode, StepResult>>;
  generatorLimited(m: Mode): boolean;
}

/**
 * Climbs the ladder of concurrent calls for `subject` and `baseline` step by step, interleaved so
 * both see the same machine; a failure is confirmed once, then one bisection step each.
 */
export async function measureCapacity(
  subject: Mode,
  baseline: Mode,
  budgetMs: number,
): Promise<CapacityLadder> {
  const started = performance.now();
  const left = (): number => budgetMs - (performance.now() - started);
  const stepCost = STEP_MS + DRAIN_MS + 1500;
  const modes = [subject, baseline] as const;
  const gens = new Map(modes.map((m) => [m, new Generator(m)]));
  const gen = (m: Mode): Generator => gens.get(m) as Generator;
  const steps: StepResult[] = [];
  const best: Partial<Record<Mode, StepResult>> = {};
  const firstFail: Partial<Record<Mode, StepResult>> = {};
  try {
    await Promise.all(modes.map((m) => gen(m).start()));
    for (const calls of LADDER) {
      for (const mode of modes) {
        if (firstFail[mode] || left() < stepCost) continue;
        let r = await gen(mode).step(calls);
        steps.push(r);
        // A failure may be another process's burst on this 2-core machine: confirm it once.
        if (!r.pass && left() >= stepCost) {
          r = await gen(mode).step(calls);
          steps.push(r);
        }
        if (r.pass) best[mode] = r;
        else firstFail[mode] = r;
      }
      if (firstFail[subject] && firstFail[baseline]) break;
    }
    for (const mode of modes) {
      const lo = best[mode];
      const hi = firstFail[mode];
      if (!lo || !hi || hi.why === 'load generator could not keep the rate' || left() < stepCost)
        continue;
      const mid = Math.round((lo.calls + hi.calls) / 2 / 10) * 10;
      if (mid <= lo.calls || mid >= hi.calls) continue;
      const r = await gen(mode).step(mid);
      steps.push(r);
      if (r.pass) best[mode] = r;
    }
    // The delay comparison needs the baseline at the subject's own highest load.
    const sc = best[subject]?.calls;
    if (
      sc !== undefined &&
      !steps.some((x) => x.mode === baseline && x.calls === sc) &&
      left() >= stepCost
    ) {
      steps.push(await gen(baseline).step(sc));
    }
  } finally {
    for (const g of gens.values()) g.stop();
  }
  return {
    steps,
    best,
    firstFail,
    generatorLimited: (m) => firstFail[m]?.why === 'load generator could not keep the rate',
  };
}

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const { steps, best, firstFail, generatorLimited } = await measureCapacity(
    'relay',
    'plain',
    BUDGET_MS,
  );
  const relay = best.relay;
  const plain = best.plain;
  const plainAt = (calls: number): StepResult | undefined =>
    steps.find((s) => s.mode === 'plain' && s.calls === calls);
  const table: BenchRow[] = [];
  if (relay) {
    table.push({
      metric: 'relayed calls at <1% loss (one process)',
      value: relay.calls,
      unit: 'calls',
      baseline: plain?.calls,
      baselineName: 'plain UDP forwarder',
    });
    table.push({
      metric: 'relayed calls per core',
      value: relay.callsPerCore,
      unit: 'calls',
      baseline: plain?.callsPerCore,
      baselineName: 'plain UDP forwarder',
    });
    table.push({
      metric: 'relay per-core capacity / plain UDP',
      value:
        plain && plain.callsPerCore > 0
          ? round(relay.callsPerCore / plain.callsPerCore, 3)
          : Number.NaN,
      unit: 'ratio',
    });
    table.push({
      metric: `relay p99 forwarding delay at ${relay.calls} calls`,
      value: relay.p99Ms,
      unit: 'ms',
      baseline: plainAt(relay.calls)?.p99Ms,
      baselineName: 'plain UDP forwarder, same load',
    });
  }
  return {
    table,
    details: {
      framesPerSecPerParty: FRAMES_PER_SEC,
      payloadBytes: PAYLOAD_LEN,
      wireBytes: WIRE_LEN,
      stepMs: STEP_MS,
      lossLimitPct: LOSS_LIMIT * 100,
      p99LimitMs: P99_LIMIT_MS,
      generatorSockets: GEN_SOCKETS,
      note:
        'calls per core = calls / CPU fraction of the forwarder process at the highest passing step; ' +
        'delay is generator -> forwarder -> generator on loopback, so it includes both event loops',
      relayCapacityIsLowerBound:
        generatorLimited('relay') || (relay !== undefined && !firstFail.relay),
      plainCapacityIsLowerBound:
        generatorLimited('plain') || (plain !== undefined && !firstFail.plain),
      relayFirstFailure: firstFail.relay ?? null,
      plainFirstFailure: firstFail.plain ?? null,
      steps,
      elapsedS: round((performance.now() - started) / 1000, 1),
    },
  };
}

const self = fileURLToPath(import.meta.url);
const modeArg = process.argv[2];
if (
  process.argv[1] &&
  resolve(process.argv[1]) === self &&
  (modeArg === 'relay' || modeArg === 'plain' || modeArg === 'trunk')
) {
  await childMain(modeArg);
}
