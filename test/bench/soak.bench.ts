// Relay soak: N simulated calls (default 1,000, two parties at 50 frames/s each way) on the
// relay's UDP media plane for M minutes (default 10), beside a plain UDP forwarder carrying the
// same calls in the same run (2-second windows, alternating), while a real `wzp relay` process
// takes registration churn (connect, register, drop) at a steady rate. Every 10 s it samples
// each process's resident memory and open descriptors. Reports added loss (relay minus plain),
// p99 forwarding delay (per window: median and worst), RSS growth from minute 1 (a tenth of the
// run) to the end, and the descriptor range.
//
// `npm run bench -- soak [--minutes M] [--calls N] [--churn PER_SEC]`; run it alone (it takes
// both cores). The forwarders are relay-capacity's children (MediaForwarder + RelayUdpPlane, and
// the plain floor), so the soak and the capacity ladder measure the same code.
import { parseArgs } from 'node:util';
import type { BenchResult, BenchRow } from './bench-types.ts';
import { Generator, type StepResult } from './relay-capacity.bench.ts';
import { openDescriptors, rssBytes } from '../support/proc-stats.ts';
import { startClient, startRelay } from '../support/relay-harness.ts';

const SAMPLE_MS = 10_000;
const MB = 1024 * 1024;
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor(s.length / 2)] as number);
};

interface Sample {
  atS: number;
  relayRssMb: number;
  relayFds: number;
  plainRssMb: number;
  plainFds: number;
  controlRssMb: number;
  controlFds: number;
  registrations: number;
}

function options(): { minutes: number; calls: number; churnPerSec: number } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      minutes: { type: 'string', default: '10' },
      calls: { type: 'string', default: '1000' },
      churn: { type: 'string', default: '2' },
    },
    strict: false,
    allowPositionals: true,
  });
  const minutes = Number(values.minutes);
  const calls = Number(values.calls);
  const churnPerSec = Number(values.churn);
  if (!(minutes > 0) || !(Number.isInteger(calls) && calls > 0) || !(churnPerSec >= 0))
    throw new Error(`soak: bad --minutes/--calls/--churn ${JSON.stringify(values)}`);
  return { minutes, calls, churnPerSec };
}

/** Growth of `key` from the first sample at or after `fromS` to the last, in per cent. */
function growthPct(samples: Sample[], key: keyof Sample, fromS: number): number {
  const first = samples.find((s) => s.atS >= fromS) ?? samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || first === last) return Number.NaN;
  return round((100 * (last[key] - first[key])) / first[key], 2);
}

export async function run(): Promise<BenchResult> {
  const { minutes, calls, churnPerSec } = options();
  const durationMs = minutes * 60_000;
  const control = await startRelay({ readyTimeoutMs: 60_000 });
  const controlPid = control.proc.child.pid as number;
  // Each forwarder child says 'ready' once: start() must listen from its construction on.
  const relay = new Generator('relay');
  let plain: Generator | null = null;
  try {
    await relay.start();
    plain = new Generator('plain');
    await plain.start();
  } catch (e) {
    // A forwarder that did not start must not leave the relay (or the other one) running.
    relay.stop();
    plain?.stop();
    await control.stop();
    throw e;
  }
  const baseline: Generator = plain;
  const relayPid = (relay.children[0] as { pid: number }).pid;
  const plainPid = (baseline.children[0] as { pid: number }).pid;

  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let registrations = 0;
  let churnFailures = 0;
  let stopping = false;
  // Registration churn: one client at a time connects, registers and leaves, at a steady rate.
  const churn = (async () => {
    if (churnPerSec === 0) return;
    const every = 1000 / churnPerSec;
    let next = performance.now();
    while (!stopping) {
      next += every;
      try {
        const c = await startClient(control);
        registrations++;
        await c.close();
      } catch {
        churnFailures++;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })();

  const samples: Sample[] = [];
  const sample = () =>
    samples.push({
      atS: round(elapsed() / 1000, 1),
      relayRssMb: round(rssBytes(relayPid) / MB, 1),
      relayFds: openDescriptors(relayPid),
      plainRssMb: round(rssBytes(plainPid) / MB, 1),
      plainFds: openDescriptors(plainPid),
      controlRssMb: round(rssBytes(controlPid) / MB, 1),
      controlFds: openDescriptors(controlPid),
      registrations,
    });
  const steps: StepResult[] = [];
  let nextSample = 0;
  try {
    while (elapsed() < durationMs) {
      if (elapsed() >= nextSample) {
        sample();
        nextSample += SAMPLE_MS;
      }
      steps.push(await relay.step(calls));
      steps.push(await baseline.step(calls));
    }
    sample();
  } finally {
    stopping = true;
    await churn;
    relay.stop();
    baseline.stop();
    await control.stop();
  }

  const of = (mode: 'relay' | 'plain') => {
    const s = steps.filter((x) => x.mode === mode);
    const sent = s.reduce((n, x) => n + x.sent, 0);
    const received = s.reduce((n, x) => n + x.received, 0);
    return {
      windows: s.length,
      sent,
      received,
      lossPct: sent > 0 ? round((100 * (sent - received)) / sent, 4) : Number.NaN,
      p99MedianMs: round(median(s.map((x) => x.p99Ms)), 3),
      p99WorstMs: round(Math.max(...s.map((x) => x.p99Ms)), 3),
      p50MedianMs: round(median(s.map((x) => x.p50Ms)), 3),
      sendRateMinPct: Math.min(...s.map((x) => x.sendRatePct)),
      // Whether loss is spread thinly or sits in a few windows (the machine stalling a process).
      windowsOver1PctLoss: s.filter((x) => x.lossPct > 1).length,
      windowsGeneratorBehind: s.filter((x) => x.sendRatePct < 95).length,
      verifyFailures: s.reduce((n, x) => n + x.verifyFailures, 0),
    };
  };
  const r = of('relay');
  const p = of('plain');
  const fromS = (durationMs / 1000) * 0.1;
  const fds = (k: 'relayFds' | 'plainFds' | 'controlFds') => {
    const xs = samples.filter((s) => s.atS >= fromS).map((s) => s[k]);
    return { min: Math.min(...xs), max: Math.max(...xs) };
  };
  const addedLossPct = round(Math.max(0, r.lossPct - p.lossPct), 4);
  const relayRssGrowthPct = growthPct(samples, 'relayRssMb', fromS);
  const controlRssGrowthPct = growthPct(samples, 'controlRssMb', fromS);
  const relayFds = fds('relayFds');
  const controlFds = fds('controlFds');
  const verdict = {
    addedLossUnder1Pct: addedLossPct < 1,
    relayRssGrowthUnder5Pct: relayRssGrowthPct < 5,
    controlRssGrowthUnder5Pct: controlRssGrowthPct < 5,
    // Flat: the same count after the first tenth, give or take the churn client in flight.
    relayFdsFlat: relayFds.max - relayFds.min <= 1,
    controlFdsFlat: controlFds.max - controlFds.min <= 2,
    generatorKeptRate: r.sendRateMinPct >= 95 && p.sendRateMinPct >= 95,
  };
  const table: BenchRow[] = [
    {
      metric: `loss over ${minutes} min, ${calls} calls`,
      value: r.lossPct,
      unit: '%',
      baseline: p.lossPct,
      baselineName: 'plain UDP forwarder',
    },
    { metric: 'added loss (relay - plain)', value: addedLossPct, unit: '%' },
    {
      metric: 'p99 forwarding delay (median of 2 s windows)',
      value: r.p99MedianMs,
      unit: 'ms',
      baseline: p.p99MedianMs,
      baselineName: 'plain UDP forwarder',
    },
    {
      metric: 'p99 forwarding delay (worst window)',
      value: r.p99WorstMs,
      unit: 'ms',
      baseline: p.p99WorstMs,
      baselineName: 'plain UDP forwarder',
    },
    {
      metric: `media plane RSS growth, ${round(fromS / 60, 1)} min to end`,
      value: relayRssGrowthPct,
      unit: '%',
      baseline: growthPct(samples, 'plainRssMb', fromS),
      baselineName: 'plain UDP forwarder',
    },
    {
      metric: 'media plane open descriptors (max - min)',
      value: relayFds.max - relayFds.min,
      unit: 'fds',
    },
    {
      metric: `control plane RSS growth under churn (${registrations} registrations)`,
      value: controlRssGrowthPct,
      unit: '%',
    },
    {
      metric: 'control plane open descriptors (max - min)',
      value: controlFds.max - controlFds.min,
      unit: 'fds',
    },
  ];
  return {
    table,
    details: {
      minutes,
      calls,
      framesPerSecPerParty: 50,
      churnPerSec,
      registrations,
      churnFailures,
      relay: r,
      plain: p,
      addedLossPct,
      relayRssGrowthPct,
      controlRssGrowthPct,
      relayFds,
      controlFds,
      verdict,
      pass: Object.values(verdict).every(Boolean),
      note:
        'windows of 2 s alternate between the relay and the plain forwarder, so each carries the ' +
        'calls half of the time; delay is generator -> forwarder -> generator on loopback',
      samples,
      windows: steps.map((x) => ({
        mode: x.mode,
        lossPct: x.lossPct,
        p99Ms: x.p99Ms,
        sendRatePct: x.sendRatePct,
      })),
    },
  };
}
