// `npm run bench`: runs every test/bench/*.bench.ts module (or those named on the command line),
// prints one JSON document on stdout and a short table on stderr, and writes the JSON to
// bench-results/latest.json. Each figure sits beside a baseline measured in the same run, so
// ratios mean something on a machine whose speed we do not control.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchModule, BenchResult } from './bench-types.ts';

const here = dirname(fileURLToPath(import.meta.url));
// Names of benchmarks; `--flag value` pairs after them are the benchmarks' own (soak --minutes).
const args = process.argv.slice(2);
const only = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();
if (only.length > 0 && names.length !== only.length) {
  console.error(`bench: unknown benchmark in ${only.join(', ')}`);
  process.exit(2);
}

const results: Record<string, BenchResult | { error: string }> = {};
for (const name of names) {
  const mod = (await import(join(here, `${name}.bench.ts`))) as BenchModule;
  const t0 = performance.now();
  try {
    results[name] = await mod.run();
  } catch (e) {
    results[name] = { error: e instanceof Error ? e.message : String(e) };
  }
  console.error(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const doc = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: (await import('node:os')).cpus().length,
  results,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync(join('bench-results', 'latest.json'), JSON.stringify(doc, null, 2) + '\n');
console.log(JSON.stringify(doc));

for (const [name, r] of Object.entries(results)) {
  if ('error' in r) {
    console.error(`${name}: ERROR ${r.error}`);
    continue;
  }
  for (const row of r.table) {
    console.error(
      `${name.padEnd(18)} ${row.metric.padEnd(44)} ${String(row.value).padStart(12)} ${row.unit.padEnd(8)} baseline ${row.baseline ?? '-'}`,
    );
  }
}
if (Object.values(results).some((r) => 'error' in r)) process.exit(1);
