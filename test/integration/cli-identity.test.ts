import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFingerprint } from '../../src-shared/fingerprint.ts';
import { runWzp } from '../support/cli.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('wzp identity', () => {
  test('new writes a 0600 file and prints the fingerprint that show prints again', async () => {
    const file = join(dir, 'alice.json');
    const made = await runWzp(['identity', 'new', '--out', file]);
    assert.equal(made.code, 0, made.stderr);
    const fp = made.stdout.trim();
    assert.ok(parseFingerprint(fp).ok, fp);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const shown = await runWzp(['identity', 'show', file]);
    assert.equal(shown.code, 0);
    assert.equal(shown.stdout.trim(), fp);
    const json = await runWzp(['identity', 'show', file, '--json']);
    assert.equal((JSON.parse(json.stdout) as { fingerprint: string }).fingerprint, fp);
  });

  test('bad input gets one line on stderr and a non-zero exit', async () => {
    const exists = join(dir, 'exists.json');
    assert.equal((await runWzp(['identity', 'new', '--out', exists])).code, 0);
    const open = join(dir, 'open.json');
    assert.equal((await runWzp(['identity', 'new', '--out', open])).code, 0);
    chmodSync(open, 0o644);
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, 'garbage', { mode: 0o600 });
    const cases: [string[], RegExp][] = [
      [['identity', 'new', '--out', exists], /already exists/],
      [['identity', 'new'], /--out/],
      [['identity', 'show', join(dir, 'missing.json')], /does not exist/],
      [['identity', 'show', open], /readable by others/],
      [['identity', 'show', junk], /not valid JSON/],
      [['identity', 'show'], /missing required argument/],
      [['frobnicate'], /unknown command/],
      [['identity', 'show', exists, '--bogus'], /unknown option/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runWzp(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0] as string, /^wzp: /);
      assert.match(lines[0] as string, pattern);
    }
    assert.equal(statSync(open).mode & 0o777, 0o644, 'a refused file is left as it was');
  });

  test('--help explains every command', async () => {
    const top = await runWzp(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /identity/);
    const sub = await runWzp(['identity', 'new', '--help']);
    assert.match(sub.stdout, /--out/);
  });
});
