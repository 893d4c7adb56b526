// Runs the test suites with Node's own test runner (TypeScript through tsx).
// `node scripts/run-tests.mjs [unit|integration|lab|e2e ...]`; no argument runs them all.
// The lab suite builds network namespaces and needs root: as root (CI) it always runs; for a
// non-root developer it is reported as not run, loudly, rather than silently passing.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ALL = ['unit', 'integration', 'lab', 'e2e'];
const suites = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
for (const s of suites) {
  if (!ALL.includes(s)) {
    console.error(`run-tests: unknown suite "${s}" (known: ${ALL.join(', ')})`);
    process.exit(2);
  }
}

function findTests(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const files = [];
for (const s of suites) {
  if (s === 'lab' && !isRoot) {
    console.error('run-tests: the lab suite needs root (network namespaces); NOT RUN');
    continue;
  }
  files.push(...findTests(join('test', s)));
}
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
