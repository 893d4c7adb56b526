// The short pass of `npm run fuzz` that `npm test` runs: every target, a few thousand inputs
// from a fixed seed, no crash and no hang; and every saved crash reproducer replays cleanly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuzzTarget, savedInputs } from '../fuzz/fuzz.ts';
import { TARGETS } from '../fuzz/targets.ts';

const crashes = join(dirname(fileURLToPath(import.meta.url)), '..', 'fuzz', 'crashes');

describe('fuzz targets, short pass', () => {
  for (const t of TARGETS) {
    test(t.name, () => {
      const r = fuzzTarget(t, 2000, 20_261_202, { saveCrashes: false });
      assert.equal(r.crashes + r.hangs, 0, r.firstFailure);
      for (const input of savedInputs(join(crashes, t.name))) t.run(input);
    });
  }
});
