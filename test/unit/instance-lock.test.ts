// The owner lock file (one web host per data directory, one built-in relay per machine user) and
// profile names: a second acquire learns the live owner and what it published; a lock whose
// process is gone, or a damaged file, is taken over; release removes only our own lock.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceLock, processAlive } from '../../src-main/desktop/instance-lock.ts';
import {
  parseProfileName,
  profileDataDir,
  profileFromArgv,
} from '../../src-main/desktop/profile.ts';

const dir = mkdtempSync(join(tmpdir(), 'wzp-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pid that surely is not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  const pid = Number(r.stdout);
  assert.ok(pid > 0 && !processAlive(pid));
  return pid;
}

describe('InstanceLock', () => {
  test('one holder; the next one learns who and where; release frees it', () => {
    const path = join(dir, 'a', 'web-host.lock');
    const first = InstanceLock.acquire(path, { url: 'http://127.0.0.1:1/' });
    assert.ok(first.held);
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    first.lock.update({ url: 'http://127.0.0.1:2/?token=abc' });
    const second = InstanceLock.acquire(path);
    assert.equal(second.held, false);
    if (!second.held) {
      assert.equal(second.owner.pid, process.pid);
      assert.deepEqual(second.owner.info, { url: 'http://127.0.0.1:2/?token=abc' });
    }
    first.lock.release();
    first.lock.release();
    assert.equal(existsSync(path), false);
    const third = InstanceLock.acquire(path);
    assert.ok(third.held);
    third.lock.release();
  });

  test('a lock left by a process that is gone, or a damaged one, is taken over', () => {
    const path = join(dir, 'b.lock');
    writeFileSync(
      path,
      JSON.stringify({ pid: deadPid(), instance: 'x', startedAt: 1, info: { url: 'old' } }),
    );
    const r = InstanceLock.acquire(path, { url: 'new' });
    assert.ok(r.held);
    assert.deepEqual(InstanceLock.read(path)?.info, { url: 'new' });
    r.lock.release();
    writeFileSync(path, '{"pid": "not a pid"');
    const again = InstanceLock.acquire(path);
    assert.ok(again.held);
    again.lock.release();
  });

  test('release never removes a lock someone else took over', () => {
    const path = join(dir, 'c.lock');
    const mine = InstanceLock.acquire(path);
    assert.ok(mine.held);
    const theirs = JSON.stringify({ pid: process.pid, instance: 'other', startedAt: 2, info: {} });
    writeFileSync(path, theirs);
    mine.lock.release();
    assert.equal(readFileSync(path, 'utf8'), theirs);
  });
});

describe('profiles', () => {
  test('names: letters, digits, - and _, at most 32; absent is the default profile', () => {
    assert.deepEqual(parseProfileName(undefined), { ok: true, profile: null });
    assert.deepEqual(parseProfileName('bob'), { ok: true, profile: 'bob' });
    assert.deepEqual(parseProfileName('Bob_2-test'), { ok: true, profile: 'Bob_2-test' });
    for (const bad of ['../x', 'a/b', '-x', 'x'.repeat(33), 'a b', 'é', '.']) {
      const r = parseProfileName(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.match(r.error, /^bad profile name/);
    }
  });

  test('from argv, and the data directory beside the default one', () => {
    assert.deepEqual(profileFromArgv(['electron', 'main.mjs', '--profile', 'bob']), {
      ok: true,
      profile: 'bob',
    });
    assert.deepEqual(profileFromArgv(['x', '--profile=carol']), { ok: true, profile: 'carol' });
    assert.deepEqual(profileFromArgv(['x']), { ok: true, profile: null });
    assert.equal(profileFromArgv(['x', '--profile']).ok, false);
    assert.equal(profileDataDir('/home/u/.config/wz-phone', null), '/home/u/.config/wz-phone');
    assert.equal(
      profileDataDir('/home/u/.config/wz-phone/', 'bob'),
      '/home/u/.config/wz-phone-bob',
    );
  });
});
