// Every reader of a file someone names refuses devices, pipes, directories and huge files before
// reading them, with a one-line message: WAV (--play), identity files, the app's JSON documents
// (settings, contacts, history, seed), the relay pin file, and the --record target.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FileInputError, readBoundedFile } from '../../src-main/engine/base/bounded-file.ts';
import { IdentityError, loadIdentity } from '../../src-main/engine/identity/identity.ts';
import {
  checkWavTarget,
  readWav,
  WavError,
  WavStreamWriter,
} from '../../src-main/engine/media/wav.ts';
import { RelayPinStore } from '../../src-main/engine/signaling/relay-pins.ts';
import { loadJsonFile } from '../../src-main/app/json-file.ts';

let dir: string;
let fifo: string;
/** A sparse file of `size` bytes that starts with `head`. */
function sparse(name: string, size: number, head = Buffer.alloc(0)): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w', 0o600);
  writeSync(fd, head);
  writeSync(fd, Buffer.alloc(1), 0, 1, size - 1);
  closeSync(fd);
  return path;
}
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-bounded-'));
  fifo = join(dir, 'fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const oneLine = (e: unknown) => e instanceof Error && !e.message.includes('\n');

describe('bounded file input', () => {
  test('only regular files within the limit are read', () => {
    const small = sparse('small', 10);
    assert.equal(readBoundedFile(small, 10).length, 10);
    const cases: [string, number, FileInputError['kind'], RegExp][] = [
      [join(dir, 'nope'), 10, 'missing', /does not exist/],
      [dir, 10, 'not-a-file', /is a directory/],
      [fifo, 10, 'not-a-file', /is a pipe \(FIFO\), not a regular file/],
      ['/dev/zero', 10, 'not-a-file', /is a device, not a regular file/],
      [small, 9, 'too-large', /is 10 bytes, more than the 9 bytes allowed/],
    ];
    for (const [path, max, kind, message] of cases) {
      assert.throws(
        () => readBoundedFile(path, max),
        (e: unknown) => e instanceof FileInputError && e.kind === kind && message.test(e.message),
        path,
      );
    }
  });

  test('a 1.9 GB WAV, /dev/zero and a pipe as --play: refused, not read', () => {
    const big = sparse('big.wav', 1_900_000_000, Buffer.from('RIFF'));
    const cases: [string, WavError['code'], RegExp][] = [
      [big, 'too-large', /1\.9 GB, more than the 128 MB allowed/],
      ['/dev/zero', 'unreadable', /a device/],
      [fifo, 'unreadable', /a pipe/],
    ];
    for (const [path, code, message] of cases) {
      assert.throws(
        () => readWav(path),
        (e: unknown) =>
          e instanceof WavError && e.code === code && message.test(e.message) && oneLine(e),
      );
    }
  });

  test('a --record target that is a pipe or a directory is refused before the call', () => {
    assert.throws(() => checkWavTarget(fifo), /not a regular file/);
    assert.throws(() => checkWavTarget(dir), /not a regular file/);
    assert.throws(() => new WavStreamWriter(fifo), /not a regular file/);
    checkWavTarget(join(dir, 'new.wav'));
  });

  test('an identity that is a pipe, a device or huge is refused at once', () => {
    const huge = sparse('huge.json', 10_000_000);
    for (const [path, kind] of [
      [fifo, 'unreadable'],
      ['/dev/zero', 'unreadable'],
      [huge, 'corrupt'],
    ] as const) {
      assert.throws(
        () => loadIdentity(path),
        (e: unknown) => e instanceof IdentityError && e.kind === kind && oneLine(e),
        path,
      );
    }
  });

  test('an app document that is a pipe or huge is set aside, not read', () => {
    const schema = z.object({ a: z.number() });
    const doc = join(dir, 'settings.json');
    execFileSync('mkfifo', [doc]);
    const r = loadJsonFile(doc, schema, () => 1);
    assert.equal(r.kind, 'corrupt');
    assert.equal(r.kind === 'corrupt' && r.reason, 'not a regular file');
    assert.ok(existsSync(`${doc}.corrupt-1`) && !existsSync(doc));
    const huge = sparse('contacts.json', 20_000_000);
    const h = loadJsonFile(huge, schema, () => 2);
    assert.equal(h.kind === 'corrupt' && h.reason, 'too large');
  });

  test('a relay pin file that is a pipe is an error, not a hang', () => {
    assert.throws(() => new RelayPinStore(fifo), /cannot read relay pins: .*a pipe/);
  });
});
