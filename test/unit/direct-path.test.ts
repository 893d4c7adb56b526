// The direct path's supervision as the call runs it (DirectPath over MediaPaths and the real
// PathSwitcher), on a fake clock with fake attempts and connections: the switch to a fresh
// direct path, dual-send while it is suspect, fallback on an outage and return when it answers,
// abandonment and retry with backoff, a connection the peer closed, joining the peer's retry,
// and early signals held for the first attempt.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallSignal, Candidate } from '../../src-shared/call-signals.ts';
import { DirectPath } from '../../src-main/engine/call/direct-path.ts';
import { MediaPaths } from '../../src-main/engine/call/media-paths.ts';
import type { MediaTransport } from '../../src-main/engine/call/media-transport.ts';
import type { CallState, DirectOutcome } from '../../src-main/engine/call/softphone-api.ts';
import type {
  DirectAttempt,
  DirectAttemptEvents,
  DirectConnection,
  DirectResult,
} from '../../src-main/engine/nat/direct-connector.ts';
import type { CloseInfo } from '../../src-main/engine/transport/peer-connection.ts';
import { TypedEmitter } from '../../src-main/engine/base/typed-emitter.ts';
import { FakeScheduler } from '../support/fake-scheduler.ts';

class FakeConnection extends TypedEmitter<{ media: [Uint8Array]; closed: [CloseInfo] }> {
  lastHeardAt: number;
  closedWith: string | null = null;
  sent = 0;
  constructor(private readonly clock: FakeScheduler) {
    super();
    this.lastHeardAt = clock.now();
  }
  get isClosed(): boolean {
    return this.closedWith !== null;
  }
  silenceMs(): number {
    return this.clock.now() - this.lastHeardAt;
  }
  async sendMedia(): Promise<boolean> {
    this.sent++;
    return true;
  }
  stats(): { rttMs: number } {
    return { rttMs: 12 };
  }
  async close(reason = 'closed'): Promise<void> {
    this.closedWith ??= reason;
  }
  /** The peer closed it. */
  remoteClose(reason: string): void {
    this.closedWith = reason;
    this.emit('closed', { reason, remote: true } as CloseInfo);
  }
}

class FakeAttempt extends TypedEmitter<DirectAttemptEvents> {
  result: DirectResult | null = null;
  started = false;
  aborted: string | null = null;
  readonly signals: CallSignal[] = [];
  start(): void {
    this.started = true;
  }
  onSignal(s: CallSignal): void {
    this.signals.push(s);
  }
  abort(reason: string): void {
    this.aborted = reason;
  }
  succeed(connection: FakeConnection): void {
    this.result = {
      ok: true,
      connection: connection as unknown as DirectConnection,
      remote: { host: '10.0.0.2', port: 4000 },
      candidateType: 'host',
      elapsedMs: 120,
      sinceFirstCandidateMs: 80,
    };
    this.emit('done', this.result);
  }
  fail(reason: string, interception = false): void {
    this.result = { ok: false, reason, interception, elapsedMs: 3000 };
    this.emit('done', this.result);
  }
}

class FakeRelay implements MediaTransport {
  readonly kind = 'relay' as const;
  sent = 0;
  send(): void {
    this.sent++;
  }
  rttMs(): number {
    return 30;
  }
  close(): void {}
}

const candidate: Candidate = {
  type: 'host',
  ip: '10.0.0.2',
  port: 4000,
  priority: 1,
  foundation: 'h1',
};

function setup(opts: { tieWinner?: boolean; retries?: boolean } = {}) {
  const clock = new FakeScheduler(1000);
  const signals: CallSignal[] = [];
  const paths: { path: string; reason: string }[] = [];
  const outcomes: DirectOutcome[] = [];
  const attempts: FakeAttempt[] = [];
  let state: CallState = 'connected';
  let seq = 0;
  const media = new MediaPaths({
    localIsTieWinner: opts.tieWinner ?? true,
    nextSeq: () => seq,
    now: () => clock.now(),
    signal: (s) => signals.push(s),
    onPath: (path, reason) => paths.push({ path, reason }),
  });
  const relay = new FakeRelay();
  media.attach(relay, 'call start');
  const direct = new DirectPath({
    paths: media,
    localIsTieWinner: opts.tieWinner ?? true,
    callState: () => state,
    peerWantsDirect: () => true,
    ...(opts.retries === false
      ? {}
      : {
          createAttempt: () => {
            const a = new FakeAttempt();
            attempts.push(a);
            return a as unknown as DirectAttempt;
          },
        }),
    onPacket: () => {},
    onOutcome: (o) => outcomes.push(o),
    scheduler: clock,
  });
  const first = new FakeAttempt();
  attempts.push(first);
  const switchSignals = () =>
    signals.flatMap((s) => (s.kind === 'path-switch' ? [`${s.phase} ${s.path} ${s.reason}`] : []));
  return {
    clock,
    media,
    relay,
    direct,
    first,
    attempts,
    outcomes,
    paths,
    switchSignals,
    end: () => {
      state = 'ended';
      direct.close();
      media.close();
    },
    advanceSeq: (n: number) => (seq += n),
    /** Send one packet of the current frame the way Call.sendAudio does. */
    sendFrame: () => media.send(new Uint8Array(1), seq++, direct.suspect),
  };
}

/** The peer's ack of the tie winner's first proposal (epoch 3: the winner's first). */
const ackOfFirstProposal = {
  kind: 'path-switch',
  phase: 'ack',
  path: 'direct',
  atSeq: 0,
  epoch: 3,
  reason: 'direct path authenticated',
} as const;

/** Keep `conn` answering (as its 200 ms pings would) while the clock advances `ms`. */
function answering(clock: FakeScheduler, conn: FakeConnection, ms: number): void {
  for (let t = 0; t < ms; t += 100) {
    conn.lastHeardAt = clock.now();
    clock.advance(100);
  }
}

describe('DirectPath', () => {
  test('a fresh direct connection is attached, reported, and proposed by the tie winner', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    assert.equal(s.first.started, true);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    assert.equal(s.direct.connected, true);
    assert.equal(s.media.get('direct')?.kind, 'direct');
    assert.deepEqual(s.outcomes, [
      {
        ok: true,
        reason: 'authenticated host 10.0.0.2:4000',
        interception: false,
        elapsedMs: 120,
        sinceFirstCandidateMs: 80,
      },
    ]);
    assert.deepEqual(s.switchSignals(), ['propose direct direct path authenticated']);
    assert.equal(s.media.current, 'relay', 'media moves only once the peer acks');
  });

  test('the side that loses the tie-break waits for the proposal', () => {
    const s = setup({ tieWinner: false });
    s.direct.start(s.first as unknown as DirectAttempt);
    s.first.succeed(new FakeConnection(s.clock));
    assert.deepEqual(s.switchSignals(), []);
  });

  test('a failed attempt is reported and the call stays on the relay', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    s.first.fail('no candidate answered');
    assert.deepEqual(s.outcomes, [
      { ok: false, reason: 'no candidate answered', interception: false, elapsedMs: 3000 },
    ]);
    assert.equal(s.direct.connected, false);
    assert.equal(s.media.get('direct'), undefined);
  });

  test('a failed attempt is retried at a backoff for the whole call; an interception is not', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    s.first.fail('no candidate answered');
    assert.equal(s.attempts.length, 1);
    s.clock.advance(2000);
    assert.equal(s.attempts.length, 2, 'first retry after 2 s');
    assert.equal(s.attempts[1]?.started, true);
    s.attempts[1]?.fail('again');
    s.clock.advance(3999);
    assert.equal(s.attempts.length, 2);
    s.clock.advance(1);
    assert.equal(s.attempts.length, 3, 'then after 4 s');
    const t = setup();
    t.direct.start(t.first as unknown as DirectAttempt);
    t.first.fail('possible interception', true);
    t.clock.advance(120_000);
    assert.equal(t.attempts.length, 1, 'no retry after a possible interception');
  });

  test('suspect while quiet: packets on the direct path also go over the relay', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.media.onSwitchSignal(ackOfFirstProposal);
    s.advanceSeq(10);
    assert.equal(s.media.current, 'direct');
    s.sendFrame();
    assert.deepEqual([conn.sent, s.relay.sent], [1, 0]);
    s.clock.advance(350);
    assert.equal(s.direct.suspect, true);
    s.sendFrame();
    assert.deepEqual([conn.sent, s.relay.sent], [2, 1]);
  });

  test('an outage falls back at once, keeps the connection, and returns when it answers', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.media.onSwitchSignal(ackOfFirstProposal);
    s.advanceSeq(10);
    s.clock.advance(1100);
    assert.equal(s.media.current, 'relay');
    assert.deepEqual(s.paths.at(-1), { path: 'relay', reason: 'fallback (from frame 10)' });
    assert.equal(
      s.switchSignals().at(-1),
      'propose relay fallback: direct path silent for 1100 ms',
    );
    assert.equal(conn.closedWith, null, 'the connection is kept through an outage');
    assert.equal(s.direct.suspect, false, 'no dual-send once media is on the relay');
    answering(s.clock, conn, 1200);
    assert.equal(s.switchSignals().at(-1), 'propose direct direct path answers again');
  });

  test('silent over 3 s: abandoned, closed, and a fresh attempt 1 s later', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.clock.advance(3100);
    assert.equal(conn.closedWith, 'call over');
    assert.equal(s.direct.connected, false);
    assert.equal(s.media.get('direct'), undefined);
    assert.equal(s.attempts.length, 1);
    s.clock.advance(999);
    assert.equal(s.attempts.length, 1);
    s.clock.advance(1);
    assert.equal(s.attempts.length, 2);
    assert.equal(s.attempts[1]?.started, true);
  });

  test('a connection the peer closed is given 300 ms, then lost and retried 2 s later', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.media.onSwitchSignal(ackOfFirstProposal);
    s.advanceSeq(10);
    conn.remoteClose('peer went away');
    s.clock.advance(299);
    assert.equal(s.direct.connected, true, 'a hang-up may be on its way over the relay');
    s.clock.advance(1);
    assert.equal(s.direct.connected, false);
    assert.equal(s.media.current, 'relay');
    assert.equal(
      s.switchSignals().at(-1),
      'propose relay fallback: direct connection closed: peer went away',
    );
    s.clock.advance(1999);
    assert.equal(s.attempts.length, 1);
    s.clock.advance(1);
    assert.equal(s.attempts.length, 2);
  });

  test('the peer retrying while our connection is silent: drop ours and join its attempt', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.clock.advance(1100); // outage: not healthy
    const signal: CallSignal = { kind: 'ice-candidate', candidate };
    s.direct.onSignal(signal);
    assert.equal(conn.closedWith, 'call over');
    assert.equal(s.attempts.length, 2);
    assert.deepEqual(s.attempts[1]?.signals, [signal]);
  });

  test('a healthy path ignores the peer candidates that arrive late', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    s.direct.onSignal({ kind: 'ice-candidate', candidate });
    assert.equal(conn.closedWith, null);
    assert.equal(s.attempts.length, 1);
  });

  test('signals that arrive before the first attempt are held for it', () => {
    const s = setup();
    const early: CallSignal[] = [
      { kind: 'ice-candidate', candidate },
      { kind: 'direct', phase: 'ready', reason: '' },
    ];
    for (const e of early) s.direct.onSignal(e);
    s.direct.start(s.first as unknown as DirectAttempt);
    assert.deepEqual(s.first.signals, early);
  });

  test('after the call ends: the attempt is aborted, nothing retries, a late success is closed', () => {
    const s = setup();
    s.direct.start(s.first as unknown as DirectAttempt);
    s.end();
    assert.equal(s.first.aborted, 'call ended');
    const conn = new FakeConnection(s.clock);
    s.first.succeed(conn);
    assert.equal(conn.closedWith, 'call over');
    s.clock.advance(120_000);
    assert.equal(s.attempts.length, 1);
    assert.equal(s.clock.pending, 0, 'no timer left behind');
  });

  test('without a way to make attempts, a lost connection is not retried', () => {
    const s = setup({ retries: false });
    s.direct.start(s.first as unknown as DirectAttempt);
    s.first.succeed(new FakeConnection(s.clock));
    s.clock.advance(3100);
    assert.equal(s.direct.connected, false);
    s.clock.advance(120_000);
    assert.equal(s.attempts.length, 1);
  });
});
