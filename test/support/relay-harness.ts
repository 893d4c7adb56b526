// Test fixtures around a real `wzp relay` process and in-process clients (endpoint + RelayLink).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity, saveIdentity } from '../../src-main/engine/identity/identity.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import { RelayLink, type RelayLinkEvents } from '../../src-main/engine/signaling/relay-link.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { WzpProcess } from './cli.ts';

export interface RunningRelay {
  proc: WzpProcess;
  quic: { host: string; port: number };
  stun: { host: string; port: number };
  fingerprint: Fingerprint;
  identityFile: string;
  dir: string;
  /** Ask for a health line (SIGUSR1) and return it: the relay's metrics right now. */
  health(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Start `wzp relay` on loopback; reuse `identityFile` and ports to simulate a restart. */
export async function startRelay(
  opts: {
    identityFile?: string;
    port?: number;
    stunPort?: number;
    extraArgs?: string[];
    /** How long to wait for "listening" (several relays starting at once on a busy machine). */
    readyTimeoutMs?: number;
  } = {},
): Promise<RunningRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'wzp-relay-'));
  let identityFile = opts.identityFile;
  if (!identityFile) {
    identityFile = join(dir, 'relay.json');
    saveIdentity(identityFile, Identity.generate());
  }
  const proc = new WzpProcess([
    'relay',
    '--listen',
    `127.0.0.1:${opts.port ?? 0}`,
    '--stun',
    `127.0.0.1:${opts.stunPort ?? 0}`,
    '--identity',
    identityFile,
    '--json',
    '--log-level',
    process.env.WZP_TEST_RELAY_LOG ?? 'warn',
    ...(opts.extraArgs ?? []),
  ]);
  const ev = await proc.waitForEvent('listening', opts.readyTimeoutMs ?? 20000).catch(async (e) => {
    await proc.stop('SIGKILL');
    throw e;
  });
  const quic = parseHostPort(String(ev.quic));
  const stun = parseHostPort(String(ev.stun));
  if (!quic || !stun) throw new Error(`bad listening event ${JSON.stringify(ev)}`);
  return {
    proc,
    quic,
    stun,
    fingerprint: ev.fingerprint as Fingerprint,
    identityFile,
    dir,
    health() {
      const before = proc.events.length;
      proc.child.kill('SIGUSR1');
      return proc.waitFor(
        (e) => e.event === 'health' && proc.events.indexOf(e) >= before,
        10_000,
        'a health line',
      );
    },
    async stop() {
      await proc.stop('SIGTERM');
      if (!opts.identityFile) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestClient {
  identity: Identity;
  endpoint: QuicEndpoint<unknown, unknown>;
  link: RelayLink;
  close(): Promise<void>;
}

export async function startClient(
  relay: { quic: { host: string; port: number }; fingerprint: Fingerprint },
  opts: {
    identity?: Identity;
    register?: boolean;
    initialBackoffMs?: number;
    /** More relays (of the same cluster) to fail over to. */
    fallbacks?: { quic: { host: string; port: number }; fingerprint: Fingerprint }[];
  } = {},
): Promise<TestClient> {
  const identity = opts.identity ?? Identity.generate();
  const endpoint = await QuicEndpoint.create<unknown, unknown>({
    identity,
    host: '127.0.0.1',
    parseAcceptedSignal: () => null,
  });
  const link = new RelayLink({
    endpoint,
    relay: relay.quic,
    trust: { fingerprint: relay.fingerprint },
    initialBackoffMs: opts.initialBackoffMs ?? 100,
    maxBackoffMs: 1000,
    fallbacks: opts.fallbacks?.map((r) => ({
      address: r.quic,
      trust: { fingerprint: r.fingerprint },
    })),
  });
  if (opts.register !== false) await link.start();
  return {
    identity,
    endpoint,
    link,
    async close() {
      await link.stop();
      await endpoint.close();
    },
  };
}

/** Resolve with the first event a RelayLink emits that matches. */
export function nextLinkEvent<K extends keyof RelayLinkEvents>(
  link: RelayLink,
  event: K,
  match: (payload: RelayLinkEvents[K][0]) => boolean = () => true,
  timeoutMs = 10000,
): Promise<RelayLinkEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for relay link event ${event}`));
    }, timeoutMs);
    const off = link.on(event, (...args: RelayLinkEvents[K]) => {
      const payload = args[0];
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** The relay process is alive and a well-behaved pair can still set up (and cancel) a call. */
export async function assertRelayServes(
  relay: RunningRelay,
  alice: TestClient,
  bob: TestClient,
): Promise<void> {
  assert.equal(relay.proc.child.exitCode, null, `relay exited: ${relay.proc.stderr.slice(-2000)}`);
  const callId = newCallId();
  const invited = nextLinkEvent(bob.link, 'signal', (s) => s.callId === callId, 5000);
  await alice.link.sendSignal(bob.identity.fingerprint, callId, { kind: 'invite', direct: false });
  await invited;
  await alice.link.sendSignal(bob.identity.fingerprint, callId, {
    kind: 'hangup',
    reason: 'cancelled',
  });
}

export interface RelayWithPair {
  relay: RunningRelay;
  alice: TestClient;
  bob: TestClient;
}

/** A relay process with two registered clients, the well-behaved pair of abuse tests. */
export async function startRelayWithPair(
  opts: Parameters<typeof startRelay>[0] = {},
): Promise<RelayWithPair> {
  const relay = await startRelay(opts);
  return { relay, alice: await startClient(relay), bob: await startClient(relay) };
}

export async function stopRelayWithPair({ relay, alice, bob }: RelayWithPair): Promise<void> {
  await alice.close();
  await bob.close();
  await relay.stop();
}
