// The IPC contract itself: requests are parsed against each command's schema (fingerprints
// canonicalised, anything else refused with a reason), events are checked, and audio frames
// round-trip exactly while any other byte string is refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  AUDIO_FRAME_BYTES,
  COMMAND_NAMES,
  Commands,
  decodeAudioFrame,
  encodeAudioFrame,
  parseEvent,
  parseRequest,
} from '../../src-shared/ipc-contract.ts';
import { fingerprintToText, formatFingerprint } from '../../src-shared/fingerprint.ts';

describe('requests', () => {
  test('every command has argument and result schemas', () => {
    assert.ok(COMMAND_NAMES.length >= 15);
    for (const c of COMMAND_NAMES) {
      assert.equal(typeof Commands[c].args.safeParse, 'function', c);
      assert.equal(typeof Commands[c].result.safeParse, 'function', c);
    }
  });

  test('fingerprints are canonicalised; typos and junk are refused with a reason', () => {
    const fp = fingerprintToText(randomBytes(32));
    const r = parseRequest({
      cmd: 'addContact',
      args: { name: '  Ann  ', fingerprint: formatFingerprint(fp).toUpperCase(), source: 'qr' },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.request, {
      cmd: 'addContact',
      args: { name: 'Ann', fingerprint: fp, source: 'qr' },
    });
    const typo = fp.slice(0, -1) + (fp.endsWith('q') ? 'p' : 'q');
    const t = parseRequest({
      cmd: 'addContact',
      args: { name: 'Ann', fingerprint: typo, source: 'qr' },
    });
    assert.equal(t.ok, false);
    assert.match(!t.ok ? t.error.message : '', /^fingerprint: .*typo/);
  });

  test('no arbitrary input throws or is accepted for an unknown command', () => {
    fc.assert(
      fc.property(fc.anything(), fc.string(), (args, cmd) => {
        const r = parseRequest({ cmd, args });
        if (r.ok) return (COMMAND_NAMES as string[]).includes(cmd);
        return true;
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.anything(),
        (raw) => parseRequest(raw).ok === false || typeof raw === 'object',
      ),
    );
  });

  test('host:port settings are checked', () => {
    const ok = parseRequest({
      cmd: 'updateSettings',
      args: { stunServers: ['[::1]:3478', 'stun.example:3478'] },
    });
    assert.ok(ok.ok);
    for (const bad of ['stun.example', 'a:0', 'a:70000', ':1', 'a b:1']) {
      assert.equal(
        parseRequest({ cmd: 'updateSettings', args: { stunServers: [bad] } }).ok,
        false,
        bad,
      );
    }
  });
});

describe('events', () => {
  test('only known events with valid payloads pass', () => {
    assert.deepEqual(parseEvent({ event: 'notice', payload: { level: 'error', message: 'x' } }), {
      event: 'notice',
      payload: { level: 'error', message: 'x' },
    });
    assert.equal(parseEvent({ event: 'notice', payload: { level: 'error' } }), null);
    assert.equal(parseEvent({ event: 'constructor', payload: {} }), null);
    assert.equal(parseEvent(null), null);
  });
});

describe('audio frames', () => {
  test('round-trip exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 960, maxLength: 960 }),
        (seq, samples) => {
          const buf = encodeAudioFrame(seq, Int16Array.from(samples));
          assert.equal(buf.byteLength, AUDIO_FRAME_BYTES);
          const f = decodeAudioFrame(buf);
          assert.ok(f);
          assert.equal(f.seq, seq);
          assert.deepEqual(Array.from(f.samples), samples);
          const view = decodeAudioFrame(new Uint8Array(buf));
          assert.equal(view?.seq, seq);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('anything else is refused', () => {
    assert.throws(() => encodeAudioFrame(0, new Int16Array(959)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (bytes) => {
        const f = decodeAudioFrame(bytes);
        return f === null || (bytes.length === AUDIO_FRAME_BYTES && bytes[0] === 1);
      }),
    );
    const reserved = new Uint8Array(encodeAudioFrame(0, new Int16Array(960)));
    reserved[2] = 1;
    assert.equal(decodeAudioFrame(reserved), null);
    assert.equal(decodeAudioFrame('x'), null);
    assert.equal(decodeAudioFrame({ byteLength: AUDIO_FRAME_BYTES }), null);
  });
});
