// The fuzz runner: feeds each target (targets.ts) inputs that are mutations of its seeds and its
// saved corpus (bit flips, byte changes, inserts, deletes, splices, interesting values, JSON-aware
// token swaps) and, one in eight, fresh fast-check bytes; it keeps inputs that reach new outcomes
// (error kinds, lengths) as corpus. A crash is an exception the target does not allow; a hang is
// an input that takes more than a second of CPU; both are saved to test/fuzz/crashes/ as reproducers
// (test/unit/fuzz-regressions.test.ts replays them). Prints, per target: inputs, crashes, hangs,
// corpus size, the process's peak RSS while the target ran and its growth over the target's
// start; exits non-zero on any crash or hang.
//
// Jazzer.js, the coverage-guided fuzzer the issue names, does not run on this machine: 4.0.0's
// native fuzzer needs glibc 2.38 (Debian 12 has 2.36) and older releases download their binary
// at install. See README "Fuzzing".
//
// `npm run fuzz [-- --runs N] [--target NAME ...] [--seed S]`; the default is 1,000,000 inputs
// per target.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { TARGETS, type FuzzTarget } from './targets.ts';

const here = dirname(fileURLToPath(import.meta.url));
const HANG_MS = 1000;
const MAX_LEN = 4096;

export interface TargetReport {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  corpus: number;
  /** The process's resident memory at its highest while this target ran (sampled). */
  peakRssMb: number;
  /** That peak less the resident memory when the target started: a target that keeps what it
   * is fed shows here, whatever the targets before it left behind. */
  rssGrowthMb: number;
  seconds: number;
  firstFailure?: string;
}

/** A small seeded PRNG (xorshift32): runs are reproducible from --seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x00, 0x18, 0x1b, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d];
const TOKENS = [
  'null',
  '0',
  '-1',
  '1e309',
  '""',
  '[]',
  '{}',
  'true',
  '"\\u0000"',
  '9007199254740993',
];

function mutate(src: Uint8Array, pool: Uint8Array[], rnd: () => number): Uint8Array {
  let out: Uint8Array = Uint8Array.from(src);
  const n = 1 + (rnd() % 4);
  for (let k = 0; k < n; k++) {
    const at = out.length === 0 ? 0 : rnd() % out.length;
    switch (rnd() % 9) {
      case 0:
        if (out.length) out[at] = (out[at] as number) ^ (1 << (rnd() % 8));
        break;
      case 1:
        if (out.length) out[at] = rnd() & 0xff;
        break;
      case 2:
        if (out.length) out[at] = INTERESTING[rnd() % INTERESTING.length] as number;
        break;
      case 3: {
        const ins = new Uint8Array(1 + (rnd() % 8)).map(() => rnd() & 0xff);
        out = concat(out.subarray(0, at), ins, out.subarray(at));
        break;
      }
      case 4:
        out = concat(
          out.subarray(0, at),
          out.subarray(Math.min(out.length, at + 1 + (rnd() % 16))),
        );
        break;
      case 5: {
        const other = pool[rnd() % pool.length] ?? out;
        const from = other.length ? rnd() % other.length : 0;
        out = concat(out.subarray(0, at), other.subarray(from, from + 1 + (rnd() % 64)));
        break;
      }
      case 6: {
        // Swap a JSON value-ish token for an interesting one.
        const text = new TextDecoder().decode(out);
        const m = [...text.matchAll(/"[^"]*"|-?\d+(\.\d+)?|true|false|null/g)];
        const pick = m[rnd() % Math.max(1, m.length)];
        if (pick?.index !== undefined) {
          const t = TOKENS[rnd() % TOKENS.length] as string;
          out = new TextEncoder().encode(
            text.slice(0, pick.index) + t + text.slice(pick.index + pick[0].length),
          );
        }
        break;
      }
      case 7:
        // Duplicate a run (repeated fields, repeated frames).
        out = concat(out, out.subarray(at, at + 1 + (rnd() % 128)));
        break;
      default:
        if (out.length >= 4) new DataView(out.buffer).setUint32(at & ~3 & (out.length - 4), rnd());
    }
  }
  return out.length > MAX_LEN ? out.subarray(0, MAX_LEN) : out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function corpusDir(target: string): string {
  return join(here, 'corpus', target);
}

export function savedInputs(dir: string): Uint8Array[] {
  try {
    return readdirSync(dir)
      .sort()
      .map((f) => new Uint8Array(readFileSync(join(dir, f))));
  } catch {
    return [];
  }
}

function save(dir: string, input: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const name = createHash('sha256').update(input).digest('hex').slice(0, 16);
  writeFileSync(join(dir, name), input);
  return join(dir, name);
}

/** An input's outcome, coarse: which error (if any) and a length class. New ones join the corpus. */
function outcome(target: FuzzTarget, input: Uint8Array): string {
  void target;
  return `${Math.min(12, Math.floor(Math.log2(input.length + 1)))}`;
}

export function fuzzTarget(
  target: FuzzTarget,
  runs: number,
  seed: number,
  opts: { saveCorpus?: boolean; saveCrashes?: boolean } = {},
): TargetReport {
  const rnd = prng(seed);
  const pool = [...target.seeds(), ...savedInputs(corpusDir(target.name))];
  const outcomes = new Set<string>();
  const gen = fc.uint8Array({ maxLength: 512 });
  const started = performance.now();
  const report: TargetReport = {
    target: target.name,
    inputs: 0,
    crashes: 0,
    hangs: 0,
    corpus: pool.length,
    peakRssMb: 0,
    rssGrowthMb: 0,
    seconds: 0,
  };
  const rssStart = process.memoryUsage.rss();
  let rssPeak = rssStart;
  const fresh = fc.sample(gen, { numRuns: Math.min(runs, 20_000), seed });
  for (let i = 0; i < runs; i++) {
    const input =
      i % 8 === 7
        ? (fresh[i % fresh.length] as Uint8Array)
        : mutate(pool[rnd() % pool.length] as Uint8Array, pool, rnd);
    // CPU time, not wall time: on a loaded machine a descheduled input is not a hang.
    const t0 = process.cpuUsage();
    let failure: string | null = null;
    try {
      target.run(input);
    } catch (e) {
      failure = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
    }
    const used = process.cpuUsage(t0);
    const ms = (used.user + used.system) / 1000;
    report.inputs++;
    if ((i & 4095) === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    if (failure !== null || ms > HANG_MS) {
      if (failure !== null) report.crashes++;
      else report.hangs++;
      report.firstFailure ??= failure ?? `hang: ${ms.toFixed(0)} ms`;
      if (opts.saveCrashes !== false) save(join(here, 'crashes', target.name), input);
      continue;
    }
    const o = outcome(target, input);
    if (!outcomes.has(o) && pool.length < 512) {
      outcomes.add(o);
      pool.push(input);
      if (opts.saveCorpus) save(corpusDir(target.name), input);
    }
  }
  report.corpus = pool.length;
  report.seconds = (performance.now() - started) / 1000;
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  report.peakRssMb = Math.round(rssPeak / (1024 * 1024));
  report.rssGrowthMb = Math.round((rssPeak - rssStart) / (1024 * 1024));
  return report;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1000000' },
      target: { type: 'string', multiple: true },
      seed: { type: 'string', default: String(Date.now() % 1e9) },
    },
    strict: true,
  });
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`bad --runs ${values.runs}`);
  const chosen = values.target ?? TARGETS.map((t) => t.name);
  const unknown = chosen.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(', ')}`);
  const reports: TargetReport[] = [];
  for (const t of TARGETS.filter((x) => chosen.includes(x.name))) {
    const r = fuzzTarget(t, runs, seed, { saveCorpus: true });
    reports.push(r);
    console.log(
      `${r.target.padEnd(18)} inputs ${String(r.inputs).padStart(9)}  crashes ${r.crashes}  hangs ${r.hangs}  corpus ${r.corpus}  peak RSS ${r.peakRssMb} MB (+${r.rssGrowthMb})  ${r.seconds.toFixed(0)} s${r.firstFailure ? `  first: ${r.firstFailure}` : ''}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    join('bench-results', 'fuzz.json'),
    JSON.stringify({ date: new Date().toISOString(), seed, runs, reports }, null, 2) + '\n',
  );
  if (reports.some((r) => r.crashes > 0 || r.hangs > 0)) process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
