// Files named on the command line are checked for type and size before a byte is read: a device
// or a pipe gets one line on stderr and a non-zero exit, at once and in little memory. (Each
// kind of file against each reader, in-process: test/unit/bounded-file.test.ts.)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { runWzp, type RunResult } from '../support/cli.ts';
import { identityFiles, type IdentityFile } from '../support/test-identities.ts';

const MB = 1024 * 1024;
let dir: string;
let me: IdentityFile;
let fifo: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-inputs-'));
  [me] = identityFiles(dir, ['me']) as [IdentityFile];
  fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `wzp call` with everything valid but the flags given; the relay is never reached. */
function call(extra: string[], identity = me.file): Promise<RunResult> {
  return runWzp(
    [
      'call',
      Identity.generate().fingerprint,
      '--relay',
      '127.0.0.1:9',
      '--relay-fingerprint',
      Identity.generate().fingerprint,
      '--identity',
      identity,
      ...extra,
    ],
    { timeoutMs: 15_000 },
  );
}

function assertRefused(r: RunResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^wzp: /);
  assert.match(lines[0] ?? '', pattern);
  assert.ok(r.peakRssBytes < 250 * MB, `peak RSS ${(r.peakRssBytes / MB).toFixed(0)} MB`);
}

describe('file inputs', () => {
  test('--play /dev/zero is refused as a device', async () => {
    assertRefused(await call(['--play', '/dev/zero']), /\/dev\/zero is a device/);
  });

  test('an identity that is a pipe is refused at once', async () => {
    assertRefused(await runWzp(['identity', 'show', fifo]), /a pipe \(FIFO\)/);
  });
});
