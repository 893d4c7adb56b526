// `wzp call FINGERPRINT …` and `wzp answer …`: headless calls. A WAV file plays as the
// microphone (paced in real time), what is heard is recorded to a WAV file, and the call's life
// is printed as events (JSON lines with --json): registered, ringing, connected, path, stats
// about once a second, verified, quality, reconnecting / recovered (the peer went silent on
// every path for ~2 s, or is heard again), lost (silent ~15 s: the call ends), ended. A relay
// given without --relay-fingerprint is trusted on first use: the key it shows is pinned in the
// --relay-pins file (relay-pinned event) and any other key at that address is refused from then on.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { formatHostPort } from '../../src-shared/relay-protocol.ts';
import {
  loadIdentity,
  PCM_FRAME_SAMPLES,
  RelayPinStore,
  checkWavTarget,
  readWav,
  startFrameClock,
  startSoftphone,
  WavError,
  WavStreamWriter,
  type Address,
  type CallEndInfo,
  type CallHandle,
  type ExpectedPeer,
  type FrameClock,
  type Identity,
  type Softphone,
} from '../engine/call/softphone-api.ts';
import { fingerprintArg, hostPortArg, positiveNumberArg } from './args.ts';
import { CliError } from './cli-error.ts';
import { EventOutput } from './event-output.ts';
import { asCliError } from './identity-command.ts';
import { installCrashGuard } from './crash-guard.ts';

interface CallFlags {
  relay: { host: string; port: number }[];
  relayFingerprint?: Fingerprint[];
  relayPins: string;
  identity: string;
  play?: string;
  record?: string;
  seconds?: number;
  direct: boolean;
  portMapping: boolean;
  stun?: { host: string; port: number };
  json?: boolean;
  ringTimeout: number;
}

/** A repeatable option: each use is parsed and appended. */
function repeated<T>(parse: (v: string) => T): (v: string, previous: T[] | undefined) => T[] {
  return (v, previous) => [...(previous ?? []), parse(v)];
}

type RelayChoice = { address: Address; trust: ExpectedPeer };

/**
 * Pairs each --relay with its --relay-fingerprint (or the one given for all); with none given,
 * each relay is trusted on first use through the pin store.
 */
function pairRelays(
  addresses: { host: string; port: number }[],
  fingerprints: Fingerprint[],
  pins: () => RelayPinStore,
): [RelayChoice, ...RelayChoice[]] {
  if (fingerprints.length === 0) {
    const store = pins();
    const pairs = addresses.map((address) => ({
      address,
      trust: store.expectationFor(formatHostPort(address.host, address.port)),
    }));
    return pairs as [RelayChoice, ...RelayChoice[]];
  }
  if (fingerprints.length !== 1 && fingerprints.length !== addresses.length) {
    throw new CliError(
      `give one --relay-fingerprint per --relay (${addresses.length}), or one for all; got ${fingerprints.length}`,
    );
  }
  const pairs = addresses.map((address, i) => ({
    address,
    trust: { fingerprint: (fingerprints[i] ?? fingerprints[0]) as Fingerprint },
  }));
  return pairs as [RelayChoice, ...RelayChoice[]];
}

/** Where relays reached without --relay-fingerprint are pinned, unless --relay-pins says. */
function defaultRelayPinsFile(): string {
  const config = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(config, 'wzp', 'relay-pins.json');
}

/** Exit codes: 0 a call that ended normally; 3 never connected; 4 security; 1 other errors. */
const NORMAL_ENDS = new Set<CallEndInfo['reason']>(['hangup-local', 'hangup-remote']);

function addCallOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--relay <host:port>',
      'the relay to register with; repeat for the relays of a cluster, tried in order on failure',
      repeated(hostPortArg('--relay', false)),
    )
    .option(
      '--relay-fingerprint <fp>',
      "the relay's fingerprint (printed by wzp relay); one per --relay, or one for all; " +
        'without it the key a relay shows first is pinned (trust on first use)',
      repeated(fingerprintArg('--relay-fingerprint')),
    )
    .option(
      '--relay-pins <file>',
      'where relays trusted on first use are pinned',
      defaultRelayPinsFile(),
    )
    .requiredOption('--identity <file>', 'your identity file (wzp identity new)')
    .option('--play <in.wav>', 'play this WAV file as the microphone (any rate, mono or stereo)')
    .option('--record <out.wav>', 'record what you hear to this WAV file (48 kHz mono)')
    .option(
      '--seconds <n>',
      'hang up after this many seconds of call',
      positiveNumberArg('--seconds', 86_400),
    )
    .option('--no-direct', 'keep media on the relay (no direct path attempt)')
    .option(
      '--no-port-mapping',
      'do not ask the home router for a port mapping (PCP, NAT-PMP, UPnP-IGD)',
    )
    .option(
      '--stun <host:port>',
      "STUN server to use instead of the relay's own",
      hostPortArg('--stun', false),
    )
    .option(
      '--ring-timeout <s>',
      'give up if nobody answers within this many seconds',
      positiveNumberArg('--ring-timeout', 3600),
      45,
    )
    .option('--json', 'print events as JSON lines on stdout');
}

export function registerCallCommands(program: Command): void {
  addCallOptions(
    program
      .command('call')
      .description(
        'place one call to FINGERPRINT through the relay and hang up after --seconds (or when the other side does)',
      )
      .argument('<fingerprint>', 'who to call', fingerprintArg('FINGERPRINT')),
  ).action(async (peer: Fingerprint, flags: CallFlags) => runCall('call', flags, peer));

  addCallOptions(
    program
      .command('answer')
      .description(
        'wait for one incoming call, answer it, and hang up after --seconds (or when the other side does)',
      ),
  ).action(async (flags: CallFlags) => runCall('answer', flags, null));
}

async function runCall(
  mode: 'call' | 'answer',
  flags: CallFlags,
  peer: Fingerprint | null,
): Promise<void> {
  let identity: Identity;
  try {
    identity = loadIdentity(flags.identity);
  } catch (e) {
    throw asCliError(e);
  }
  const mic = loadMicrophone(flags.play);
  if (flags.record) {
    try {
      checkWavTarget(flags.record);
    } catch (e) {
      throw new CliError(e instanceof Error ? e.message : String(e));
    }
  }
  installCrashGuard((line) => process.stderr.write(line + '\n'));
  const out = new EventOutput(flags.json === true);
  const pinsFile = flags.relayPins;
  const relays = pairRelays(flags.relay, flags.relayFingerprint ?? [], () => {
    try {
      return new RelayPinStore(pinsFile, ({ address, fingerprint }) => {
        out.event(
          'relay-pinned',
          { relay: address, fingerprint, file: pinsFile },
          () => `first contact with the relay at ${address}: pinned its key ${fingerprint}`,
        );
      });
    } catch (e) {
      throw new CliError(e instanceof Error ? e.message : String(e));
    }
  });
  let phone: Softphone;
  try {
    phone = await startSoftphone({
      identity,
      relay: relays[0].address,
      relayTrust: relays[0].trust,
      fallbackRelays: relays.slice(1),
      directCalls: flags.direct,
      portMapping: flags.portMapping,
      stunServers: flags.stun ? [flags.stun] : undefined,
      ringTimeoutMs: flags.ringTimeout * 1000,
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if ((e as { code?: unknown }).code !== 'peer-identity-mismatch') throw new CliError(message, 1);
    // A relay with another key than the one given or pinned: a security stop.
    throw new CliError(
      flags.relayFingerprint === undefined
        ? `${message} (pinned in ${pinsFile}; if its operator really changed the key, give --relay-fingerprint)`
        : message,
      4,
    );
  }
  const relayAddress = () => {
    const a = phone.registration?.address;
    return a ? formatHostPort(a.host, a.port) : null;
  };
  out.event(
    'registered',
    {
      fingerprint: identity.fingerprint,
      relay: phone.registration?.relay ?? null,
      address: relayAddress(),
    },
    () => `registered with the relay as ${identity.fingerprint}`,
  );
  // The relay link's life after the first registration: lost, failed over, back.
  phone.on('relay', ({ state, detail }) =>
    out.event(
      'relay',
      { state, detail: detail ?? null, address: state === 'registered' ? relayAddress() : null },
      () =>
        state === 'registered'
          ? `registered with the relay at ${relayAddress() ?? '?'}`
          : `relay ${state}${detail ? `: ${detail}` : ''}`,
    ),
  );

  phone.on('port-mapping', (m) =>
    out.event('port-mapping', { ...m }, () =>
      m.ok
        ? `the router maps ${m.external} to us (${m.protocol})`
        : `no port mapping from the router: ${m.reason}`,
    ),
  );

  let call: CallHandle;
  if (mode === 'call' && peer) {
    call = await phone.call(peer, { direct: flags.direct });
  } else {
    out.event('waiting', {}, () => 'waiting for a call…');
    call = await new Promise<CallHandle>((resolve) => {
      const off = phone.on('incoming', (c) => {
        off();
        resolve(c);
      });
    });
    out.event(
      'ringing',
      { from: call.peer, callId: call.id },
      () => `incoming call from ${call.peer}`,
    );
  }

  const ended = new Promise<CallEndInfo>((resolve) => call.on('ended', resolve));
  call.on('state', (s) => {
    if (s === 'ringing' && mode === 'call')
      out.event('ringing', { to: call.peer, callId: call.id }, () => `ringing ${call.peer}…`);
  });
  let connectedPrinted = false;
  // Set once connected (from event handlers, hence an object rather than narrowed locals).
  const media: {
    hangupTimer: NodeJS.Timeout | null;
    mic: FrameClock | null;
    recorder: WavStreamWriter | null;
  } = { hangupTimer: null, mic: null, recorder: null };
  const onConnected = () => {
    if (connectedPrinted || call.state !== 'connected' || call.path === null) return;
    connectedPrinted = true;
    // The microphone WAV starts playing and the recording starts at `mediaStartMs` (wall clock),
    // so two processes on one machine can line their WAV files up (mouth-to-ear latency).
    out.event(
      'connected',
      { path: call.path, callId: call.id, peer: call.peer, mediaStartMs: Date.now() },
      () => `connected (${call.path})`,
    );
    if (flags.record) {
      try {
        media.recorder = new WavStreamWriter(flags.record);
      } catch (e) {
        out.event(
          'error',
          { message: e instanceof Error ? e.message : String(e) },
          (d) => `cannot record: ${String(d.message)}`,
        );
      }
    }
    let slot = 0;
    media.mic = startFrameClock(() => {
      const start = slot * PCM_FRAME_SAMPLES;
      slot++;
      const frame = new Int16Array(PCM_FRAME_SAMPLES);
      if (mic && start < mic.length)
        frame.set(mic.subarray(start, Math.min(mic.length, start + PCM_FRAME_SAMPLES)));
      call.sendAudio(frame);
    });
    if (flags.seconds !== undefined) {
      media.hangupTimer = setTimeout(() => void call.hangup('normal'), flags.seconds * 1000);
    }
  };
  call.on('state', onConnected);
  call.on('path', ({ path, reason }) => {
    if (connectedPrinted)
      out.event('path', { path, reason }, () => `media path: ${path} (${reason})`);
    onConnected();
  });
  call.on('audio', (pcm) => media.recorder?.write(pcm));
  call.on('direct', (d) =>
    out.event('direct', { ...d }, () =>
      d.ok ? `direct path up: ${d.reason}` : `staying on the relay: ${d.reason}`,
    ),
  );
  call.on('verified', ({ sas }) =>
    out.event('verified', { sas }, () => `security code ${sas} (compare it with your peer)`),
  );
  call.on('quality', (q) =>
    out.event(
      'quality',
      { ...q },
      () => `quality tier ${q.tier} (${q.bitrateKbps} kbps): ${q.reason}`,
    ),
  );
  call.on('stats', (s) =>
    out.event(
      'stats',
      { ...s },
      () =>
        `${s.path ?? '-'} rtt ${s.rttMs ?? '-'} ms, loss ${s.lossPct} %, jitter ${s.jitterMs ?? '-'} ms, ${s.bitrateKbps} kbps, concealed ${s.framesConcealed}`,
    ),
  );
  call.on('liveness', ({ state, silentMs }) =>
    state === 'reconnecting'
      ? out.event(
          'reconnecting',
          { callId: call.id, silentMs },
          () => `reconnecting: nothing from the peer for ${Math.round(silentMs)} ms…`,
        )
      : out.event(
          'recovered',
          { callId: call.id, silentMs },
          () => `the peer is heard again (after ${Math.round(silentMs)} ms)`,
        ),
  );
  if (mode === 'answer') await call.answer();

  const stop = () => void call.hangup('normal');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const info = await ended;
  if (media.hangupTimer) clearTimeout(media.hangupTimer);
  media.mic?.stop();
  media.recorder?.close();
  if (info.reason === 'connection-lost')
    out.event(
      'lost',
      { callId: call.id, detail: info.detail ?? null },
      () => `connection lost${info.detail ? `: ${info.detail}` : ''}`,
    );
  out.event(
    'ended',
    { ...info },
    () =>
      `call ended: ${info.reason}${info.detail ? ` (${info.detail})` : ''}, ${info.durationS} s`,
  );
  await phone.close();
  process.exit(
    NORMAL_ENDS.has(info.reason)
      ? 0
      : info.reason === 'security'
        ? 4
        : info.durationS === 0
          ? 3
          : 1,
  );
}

function loadMicrophone(path: string | undefined): Int16Array | null {
  if (!path) return null;
  try {
    return readWav(path).samples;
  } catch (e) {
    if (e instanceof WavError) throw new CliError(e.message);
    throw e;
  }
}
