// Trust on first use of a relay from the command line: `wzp call` without --relay-fingerprint
// pins the key the relay shows (a relay-pinned event, the --relay-pins file), uses the pin on
// the next run, and refuses (exit 4, one line naming the pin file) another relay that comes up
// at the same address with another key. --relay-fingerprint still decides when it is given.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { runWzp, type RunResult } from '../support/cli.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';
import { identityFiles, type IdentityFile } from '../support/test-identities.ts';

let dir: string;
let me: IdentityFile;
let pins: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-relay-pins-'));
  [me] = identityFiles(dir, ['me']) as [IdentityFile];
  pins = join(dir, 'pins', 'relay-pins.json');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Call someone who is not online: registers, then ends at once (offline). */
function callVia(relay: RunningRelay, extra: string[] = []): Promise<RunResult> {
  return runWzp(
    [
      'call',
      Identity.generate().fingerprint,
      '--relay',
      `127.0.0.1:${relay.quic.port}`,
      '--identity',
      me.file,
      '--relay-pins',
      pins,
      '--ring-timeout',
      '2',
      '--no-direct',
      '--no-port-mapping',
      '--json',
      ...extra,
    ],
    { timeoutMs: 30_000 },
  );
}

function events(r: RunResult): Array<Record<string, unknown>> {
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('relay pins (trust on first use)', () => {
  test('first contact pins; the pin is kept; another key at that address is refused', async () => {
    const first = await startRelay();
    const port = first.quic.port;
    let second: RunningRelay | null = null;
    try {
      const r1 = await callVia(first);
      const e1 = events(r1);
      const pinnedEvent = e1.find((e) => e.event === 'relay-pinned');
      assert.ok(pinnedEvent, `a relay-pinned event: ${r1.stdout}${r1.stderr}`);
      assert.equal(pinnedEvent.fingerprint, first.fingerprint);
      assert.ok(
        e1.some((e) => e.event === 'registered'),
        r1.stderr,
      );
      const file = JSON.parse(readFileSync(pins, 'utf8')) as { relays: Record<string, string> };
      assert.deepEqual(file.relays, { [`127.0.0.1:${port}`]: first.fingerprint });

      const r2 = await callVia(first);
      const e2 = events(r2);
      assert.ok(
        e2.some((e) => e.event === 'registered'),
        r2.stderr,
      );
      assert.ok(!e2.some((e) => e.event === 'relay-pinned'), 'pinned once, not again');

      await first.stop();
      second = await startRelay({ port });
      assert.notEqual(second.fingerprint, first.fingerprint);
      const r3 = await callVia(second);
      assert.equal(r3.code, 4, `refused as a security stop: ${r3.stdout}${r3.stderr}`);
      assert.ok(!events(r3).some((e) => e.event === 'registered'), 'never registered');
      const lines = r3.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r3.stderr);
      assert.match(lines[0] ?? '', /^wzp: .*possible interception.*pinned in /);

      // The user's word (--relay-fingerprint) decides, and leaves the pin alone.
      const r4 = await callVia(second, ['--relay-fingerprint', second.fingerprint]);
      assert.ok(
        events(r4).some((e) => e.event === 'registered'),
        r4.stderr,
      );
      const after = JSON.parse(readFileSync(pins, 'utf8')) as { relays: Record<string, string> };
      assert.deepEqual(after.relays, { [`127.0.0.1:${port}`]: first.fingerprint });
    } finally {
      await first.stop().catch(() => {});
      await second?.stop().catch(() => {});
    }
  });
});
