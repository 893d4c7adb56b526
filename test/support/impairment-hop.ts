// Userspace UDP impairment hop for tests, benchmarks and the NAT lab (the kernel has no netem):
// forwards one client's datagrams to a target and the target's replies back, each direction
// through its own seeded ImpairmentModel. Usable in-process (startImpairmentHop) or as a
// standalone process driven by flags, JSON lines on stdin and SIGUSR1 (see usage below).
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  ImpairmentModel,
  impairmentParamsSchema,
  impairmentPatchSchema,
} from './impairment-model.ts';
import type {
  ImpairmentCounters,
  ImpairmentParams,
  ImpairmentParamsInput,
  ImpairmentPatch,
} from './impairment-model.ts';

export interface HostPort {
  host: string;
  port: number;
}

export type HopDirection = 'up' | 'down';

export interface ImpairmentHopOptions {
  listen: HostPort;
  target: HostPort;
  /** Applied to both directions; `up` (client→target) and `down` override key by key. */
  params?: ImpairmentParamsInput;
  up?: ImpairmentParamsInput;
  down?: ImpairmentParamsInput;
  seed?: number;
  /**
   * Serve many clients, each through its own upstream socket (like a NAT), so the target sees
   * them as distinct senders: e.g. every party of a call reaching one relay through the hop.
   * Off by default: the first sender is the only client, the rest are foreign.
   */
  multiClient?: boolean;
}

export interface HopDirectionStats extends ImpairmentCounters {
  received: number;
  forwarded: number;
  queued: number;
  sendErrors: number;
  /** How late the timer released packets, worst case, in ms: the hop's own added jitter. */
  maxLateMs: number;
}

export interface HopStats {
  up: HopDirectionStats;
  down: HopDirectionStats;
  /** Datagrams from anyone other than the learned client or the target: dropped. */
  foreign: number;
  client: HostPort | null;
  /** Distinct clients served (1 at most without multiClient). */
  clients: number;
}

const hopSplitSchema = z.strictObject({
  up: impairmentPatchSchema.optional(),
  down: impairmentPatchSchema.optional(),
});

export type HopPatch = { up?: ImpairmentPatch; down?: ImpairmentPatch } | ImpairmentPatch;

export interface ImpairmentHop {
  readonly listen: HostPort;
  readonly target: HostPort;
  readonly client: HostPort | null;
  /** `{up, down}` patches each direction; a bare patch applies to both. Throws on invalid input. */
  setParams(patch: HopPatch): { up: ImpairmentParams; down: ImpairmentParams };
  params(): { up: ImpairmentParams; down: ImpairmentParams };
  stats(): HopStats;
  close(): Promise<void>;
}

interface Session {
  client: HostPort;
  back: dgram.Socket;
}

interface Queued {
  at: number;
  seq: number;
  dir: HopDirection;
  buf: Buffer;
  session: Session;
}

// Binary min-heap on (at, seq): one timer for the earliest packet, FIFO among equal times.
class ReleaseQueue {
  private readonly h: Queued[] = [];
  get size(): number {
    return this.h.length;
  }
  peek(): Queued | undefined {
    return this.h[0];
  }
  push(q: Queued): void {
    const h = this.h;
    h.push(q);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent];
      if (p === undefined || !this.less(q, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = q;
  }
  pop(): Queued | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      const hl = h[l];
      const hr = h[r];
      if (hl !== undefined && this.less(hl, best)) {
        m = l;
        best = hl;
      }
      if (hr !== undefined && this.less(hr, best)) m = r;
      if (m === i) break;
      h[i] = h[m] as Queued;
      i = m;
    }
    h[i] = last;
    return top;
  }
  countDir(dir: HopDirection): number {
    return this.h.reduce((n, q) => n + (q.dir === dir ? 1 : 0), 0);
  }
  private less(a: Queued, b: Queued): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

function socketType(host: string): 'udp4' | 'udp6' {
  return isIP(host) === 6 ? 'udp6' : 'udp4';
}

function sameHost(a: string, b: string): boolean {
  const norm = (x: string): string => {
    const l = x.toLowerCase();
    return l.startsWith('::ffff:') && isIP(l.slice(7)) === 4 ? l.slice(7) : l;
  };
  return norm(a) === norm(b);
}

function checkHostPort(what: string, hp: HostPort, allowZeroPort: boolean): void {
  if (isIP(hp.host) === 0) throw new Error(`${what}: host must be an IP address, got "${hp.host}"`);
  if (!Number.isInteger(hp.port) || hp.port < (allowZeroPort ? 0 : 1) || hp.port > 65535) {
    throw new Error(`${what}: bad port ${hp.port}`);
  }
}

export async function startImpairmentHop(opts: ImpairmentHopOptions): Promise<ImpairmentHop> {
  checkHostPort('listen', opts.listen, true);
  checkHostPort('target', opts.target, false);
  const seed = (opts.seed ?? 1) >>> 0;
  const base = opts.params ?? {};
  const models: Record<HopDirection, ImpairmentModel> = {
    up: new ImpairmentModel({ ...base, ...opts.up }, seed),
    down: new ImpairmentModel({ ...base, ...opts.down }, (seed ^ 0x5bd1e995) >>> 0),
  };
  const extra = {
    up: { received: 0, forwarded: 0, sendErrors: 0, maxLateMs: 0 },
    down: { received: 0, forwarded: 0, sendErrors: 0, maxLateMs: 0 },
  };
  let foreign = 0;
  let closed = false;
  const now = (): number => performance.now();

  const front = dgram.createSocket({ type: socketType(opts.listen.host) });
  const sessions = new Map<string, Session>();
  const firstBack = dgram.createSocket({ type: socketType(opts.target.host) });
  const queue = new ReleaseQueue();
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;

  const emit = (q: Queued): void => {
    const onSent = (err: Error | null): void => {
      if (err) extra[q.dir].sendErrors++;
    };
    try {
      if (q.dir === 'up') q.session.back.send(q.buf, opts.target.port, opts.target.host, onSent);
      else front.send(q.buf, q.session.client.port, q.session.client.host, onSent);
      extra[q.dir].forwarded++;
    } catch {
      extra[q.dir].sendErrors++;
    }
  };

  const release = (): void => {
    timer = undefined;
    timerAt = Infinity;
    if (closed) return;
    const t = now();
    // setTimeout fires on whole milliseconds; release what is due within half of one.
    for (let q = queue.peek(); q !== undefined && q.at <= t + 0.5; q = queue.peek()) {
      queue.pop();
      extra[q.dir].maxLateMs = Math.max(extra[q.dir].maxLateMs, t - q.at);
      emit(q);
    }
    arm();
  };

  const arm = (): void => {
    const head = queue.peek();
    if (head === undefined || closed) return;
    if (timer !== undefined && timerAt <= head.at) return;
    if (timer !== undefined) clearTimeout(timer);
    timerAt = head.at;
    timer = setTimeout(release, Math.max(0, head.at - now()));
  };

  const ingest = (dir: HopDirection, msg: Buffer, session: Session): void => {
    extra[dir].received++;
    const t = now();
    const fate = models[dir].decide(t);
    for (const at of fate.deliverAtMs) {
      if (at <= t) emit({ at, seq: seq++, dir, buf: msg, session });
      else queue.push({ at, seq: seq++, dir, buf: msg, session });
    }
    arm();
  };

  const listenBack = (session: Session): void => {
    session.back.on('message', (msg, rinfo) => {
      if (rinfo.port !== opts.target.port || !sameHost(rinfo.address, opts.target.host)) {
        foreign++;
        return;
      }
      ingest('down', msg, session);
    });
    // A send to a closed port surfaces as an async socket error on some platforms: not fatal.
    session.back.on('error', () => extra.up.sendErrors++);
  };

  const sessionFor = (rinfo: { address: string; port: number }): Session | null => {
    const key = `${rinfo.address}|${rinfo.port}`;
    const known = sessions.get(key);
    if (known) return known;
    if (sessions.size > 0 && !opts.multiClient) return null;
    const back =
      sessions.size === 0 ? firstBack : dgram.createSocket({ type: socketType(opts.target.host) });
    const session: Session = { client: { host: rinfo.address, port: rinfo.port }, back };
    if (back !== firstBack) listenBack(session);
    else firstSession = session;
    sessions.set(key, session);
    return session;
  };
  let firstSession: Session | null = null;
  // The first upstream socket is bound before the hop reports itself listening, so a target that
  // answers at once finds it; the handler is attached when its client appears.
  firstBack.on('message', (msg, rinfo) => {
    if (
      firstSession === null ||
      rinfo.port !== opts.target.port ||
      !sameHost(rinfo.address, opts.target.host)
    ) {
      foreign++;
      return;
    }
    ingest('down', msg, firstSession);
  });
  firstBack.on('error', () => extra.up.sendErrors++);

  front.on('message', (msg, rinfo) => {
    const session = sessionFor(rinfo);
    if (session === null) {
      foreign++;
      return;
    }
    ingest('up', msg, session);
  });
  front.on('error', () => extra.down.sendErrors++);

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(opts.listen.port, opts.listen.host, () => {
      front.off('error', reject);
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    firstBack.once('error', reject);
    firstBack.bind(0, () => {
      firstBack.off('error', reject);
      resolve();
    });
  });
  const la = front.address() as AddressInfo;
  const listen = { host: la.address, port: la.port };

  const dirStats = (dir: HopDirection): HopDirectionStats => ({
    ...models[dir].counters(),
    ...extra[dir],
    queued: queue.countDir(dir),
  });

  return {
    listen,
    target: { ...opts.target },
    get client() {
      return firstSession === null ? null : { ...firstSession.client };
    },
    setParams(patch) {
      // An object naming up or down is per direction; anything else is one patch for both.
      const isSplit =
        typeof patch === 'object' && patch !== null && ('up' in patch || 'down' in patch);
      let upPatch: ImpairmentPatch | undefined;
      let downPatch: ImpairmentPatch | undefined;
      if (isSplit) {
        ({ up: upPatch, down: downPatch } = hopSplitSchema.parse(patch));
      } else {
        upPatch = downPatch = impairmentPatchSchema.parse(patch);
      }
      // Validate both before applying either, so a bad line changes nothing.
      const trial = (m: ImpairmentModel, q: ImpairmentPatch | undefined): void => {
        if (q !== undefined)
          impairmentParamsSchema.parse({ ...m.params, ...impairmentPatchSchema.parse(q) });
      };
      trial(models.up, upPatch);
      trial(models.down, downPatch);
      if (upPatch !== undefined) models.up.setParams(upPatch);
      if (downPatch !== undefined) models.down.setParams(downPatch);
      return { up: models.up.params, down: models.down.params };
    },
    params() {
      return { up: models.up.params, down: models.down.params };
    },
    stats() {
      return {
        up: dirStats('up'),
        down: dirStats('down'),
        foreign,
        client: firstSession === null ? null : { ...firstSession.client },
        clients: sessions.size,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const sockets = new Set<dgram.Socket>([
        front,
        firstBack,
        ...[...sessions.values()].map((x) => x.back),
      ]);
      await Promise.all(
        [...sockets].map((sock) => new Promise<void>((r) => sock.close(() => r()))),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Standalone process.

const USAGE = `usage: node --import tsx test/support/impairment-hop.ts --listen H:P --target H:P
  [--loss PCT] [--burst ENTER,EXIT[,BADLOSS[,GOODLOSS]]] [--delay MS] [--jitter MS]
  [--jitter-dist uniform|normal] [--reorder PCT] [--reorder-delay MS] [--duplicate PCT] [--seed N]
  [--multi-client]  (one upstream socket per client, so the target sees each as its own sender)
stdin: one JSON object per line, {"lossPct":20} (both directions) or {"up":{...},"down":{...}},
  or {"cmd":"stats"}; stdout: one JSON object per line; SIGUSR1 prints stats.`;

export function parseHostPort(s: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m || m[1] === undefined || m[2] === undefined)
    throw new Error(`expected HOST:PORT, got "${s}"`);
  const hp = { host: m[1], port: Number(m[2]) };
  if (isIP(hp.host) === 0) throw new Error(`expected an IP address in "${s}"`);
  return hp;
}

function fmtHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${flag}: not a number: "${v}"`);
  return n;
}

/** Flags to options; throws with a one-line message on bad input. */
export function parseHopArgs(argv: string[]): ImpairmentHopOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      listen: { type: 'string' },
      target: { type: 'string' },
      loss: { type: 'string' },
      burst: { type: 'string' },
      delay: { type: 'string' },
      jitter: { type: 'string' },
      'jitter-dist': { type: 'string' },
      reorder: { type: 'string' },
      'reorder-delay': { type: 'string' },
      duplicate: { type: 'string' },
      seed: { type: 'string' },
      'multi-client': { type: 'boolean' },
    },
  });
  if (values.listen === undefined || values.target === undefined)
    throw new Error('--listen and --target are required');
  const params: Record<string, unknown> = {};
  const set = (key: string, v: unknown): void => {
    if (v !== undefined) params[key] = v;
  };
  set('lossPct', num('loss', values.loss));
  set('delayMs', num('delay', values.delay));
  set('jitterMs', num('jitter', values.jitter));
  set('jitterDist', values['jitter-dist']);
  set('reorderPct', num('reorder', values.reorder));
  set('reorderDelayMs', num('reorder-delay', values['reorder-delay']));
  set('duplicatePct', num('duplicate', values.duplicate));
  if (values.burst !== undefined) {
    const parts = values.burst.split(',').map((x) => num('burst', x));
    if (parts.length < 2 || parts.length > 4)
      throw new Error('--burst: expected ENTER,EXIT[,BADLOSS[,GOODLOSS]]');
    const [enterPct, exitPct, badLossPct, goodLossPct] = parts;
    params.burst = {
      enterPct,
      exitPct,
      ...(badLossPct !== undefined && { badLossPct }),
      ...(goodLossPct !== undefined && { goodLossPct }),
    };
  }
  const checked = impairmentParamsSchema.safeParse(params);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(
      `bad impairment parameter ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const seed = num('seed', values.seed) ?? 1;
  if (!Number.isInteger(seed)) throw new Error('--seed: expected an integer');
  return {
    listen: parseHostPort(values.listen),
    target: parseHostPort(values.target),
    params: checked.data,
    seed,
    multiClient: values['multi-client'] === true,
  };
}

async function main(argv: string[]): Promise<void> {
  const out = (o: object): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  let opts: ImpairmentHopOptions;
  try {
    opts = parseHopArgs(argv);
  } catch (e) {
    process.stderr.write(
      `impairment-hop: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`,
    );
    process.exit(2);
  }
  const hop = await startImpairmentHop(opts);
  out({
    event: 'listening',
    listen: fmtHostPort(hop.listen),
    target: fmtHostPort(hop.target),
    seed: opts.seed,
    ...hop.params(),
  });

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      out({ event: 'error', message: 'stdin line is not JSON' });
      return;
    }
    if (typeof parsed === 'object' && parsed !== null && 'cmd' in parsed) {
      if ((parsed as { cmd: unknown }).cmd === 'stats') out({ event: 'stats', ...hop.stats() });
      else out({ event: 'error', message: 'unknown cmd' });
      return;
    }
    try {
      out({ event: 'params', ...hop.setParams(parsed as HopPatch) });
    } catch (e) {
      const msg =
        e instanceof z.ZodError
          ? e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
          : String(e);
      out({ event: 'error', message: `bad parameters: ${msg}` });
    }
  });

  process.on('SIGUSR1', () => out({ event: 'stats', ...hop.stats() }));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    out({ event: 'stats', final: true, ...hop.stats() });
    rl.close();
    void hop.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  void main(process.argv.slice(2));
}
