// Every parser that takes bytes or text from outside, as a fuzz target: a function that must
// return (or throw only its own typed error) for any input. Inputs are bytes; each target also
// has seeds (valid inputs) that the runner mutates, so most inputs get past the first checks.
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Identity, IdentityError, loadIdentity } from '../../src-main/engine/identity/identity.ts';
import { FrameDecoder, encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { parseClientToRelay, parseRelayToClient } from '../../src-shared/relay-protocol.ts';
import { parseCallSignal } from '../../src-shared/call-signals.ts';
import { decodeMediaPacket, encodeMediaPacket } from '../../src-main/engine/media/media-packet.ts';
import { FecDecoder } from '../../src-main/engine/media/fec.ts';
import {
  RelayMediaChannel,
  decodeRelayFrame,
  parseRelayFrameHeader,
} from '../../src-main/engine/transport/relay-media-frame.ts';
import { MediaForwarder } from '../../src-main/relay/media-forwarder.ts';
import { StunResponder } from '../../src-main/relay/stun-responder.ts';
import { decodeStun, encodeBindingRequest } from '../../src-main/engine/nat/stun-message.ts';
import { KeyExchange, keyShareFromWire } from '../../src-main/engine/media/key-exchange.ts';
import {
  DEFAULT_SETTINGS,
  SettingsSchema,
  decodeAudioFrame,
  encodeAudioFrame,
  parseEvent,
  parseRequest,
} from '../../src-shared/ipc-contract.ts';
import { parseFingerprint, parseQrPayload } from '../../src-shared/fingerprint.ts';
import { WavError, decodeWav, encodeWav } from '../../src-main/engine/media/wav.ts';
import { loadJsonFile } from '../../src-main/app/json-file.ts';

export interface FuzzTarget {
  name: string;
  seeds: () => Uint8Array[];
  run: (input: Uint8Array) => void;
}

const te = new TextEncoder();
const td = new TextDecoder();
const json = (v: unknown) => te.encode(JSON.stringify(v));
const asJson = (b: Uint8Array): unknown => {
  try {
    return JSON.parse(td.decode(b));
  } catch {
    return undefined;
  }
};
const a = Identity.generate();
const b = Identity.generate();
const callId = 'AAAAAAAAAAAAAAAAAAAAAA';
const callSignals = [
  { kind: 'invite', direct: true, displayName: 'Alice' },
  { kind: 'accept', direct: false },
  { kind: 'hangup', reason: 'normal' },
  {
    kind: 'ice-candidate',
    candidate: { type: 'host', ip: '10.0.0.1', port: 5, priority: 1, foundation: 'x' },
  },
  { kind: 'path-switch', phase: 'propose', path: 'direct', atSeq: 7, epoch: 1, reason: 'r' },
  { kind: 'report', lossPct: 1, jitterMs: 2, lateFrames: 0, receivedFrames: 5, relayRttMs: null },
];
// Files for the targets that read files: tmpfs where there is one.
const scratch = `/dev/shm/wzp-fuzz-${process.pid}`;

function forwarderWithCall(): { fwd: MediaForwarder; channel: RelayMediaChannel } {
  const fwd = new MediaForwarder({ now: () => 0 });
  const g = fwd.grant('call', 'a');
  fwd.grant('call', 'b');
  return { fwd, channel: new RelayMediaChannel(g.channelId, g.key) };
}
const relayCall = forwarderWithCall();

export const TARGETS: FuzzTarget[] = [
  {
    name: 'signal-frames',
    seeds: () => [
      encodeFrame(json({ t: 'subscribe', fingerprints: [a.fingerprint] })),
      encodeFrame(json({ t: 'signal', to: b.fingerprint, callId, signal: callSignals[0] })),
      encodeFrame(json({ t: 'presence', online: [a.fingerprint], offline: [] })),
      encodeFrame(json({ t: 'challenge', nonce: 'A'.repeat(43), relay: a.fingerprint })),
    ],
    run(input) {
      const d = new FrameDecoder(4096);
      // Split where the input says, so chunk boundaries fall anywhere.
      const cut = input.length > 0 ? (input[0] as number) % (input.length + 1) : 0;
      for (const chunk of [input.subarray(0, cut), input.subarray(cut)]) {
        for (const f of d.push(chunk)) {
          if (f.kind !== 'frame') continue;
          const j = asJson(f.payload);
          parseClientToRelay(j);
          parseRelayToClient(j);
        }
      }
      if (d.bufferedBytes > 4096 + 4) throw new Error(`decoder holds ${d.bufferedBytes} bytes`);
    },
  },
  {
    name: 'call-signals',
    seeds: () => callSignals.map((s) => json(s)),
    run: (input) => void parseCallSignal(asJson(input)),
  },
  {
    name: 'media-packet',
    seeds: () => [
      encodeMediaPacket({
        header: {
          version: 1,
          seq: 5,
          timestamp: 960,
          tier: 2,
          durationMs: 20,
          fecDepth: 1,
          flags: 0,
        },
        body: {
          primary: new Uint8Array(40).fill(7),
          redundant: [{ seqOffset: 1, tsOffset: 960, durationMs: 20, payload: new Uint8Array(30) }],
        },
      }),
    ],
    run(input) {
      const p = decodeMediaPacket(input);
      if (!p.ok) return;
      new FecDecoder().receive(p.value.header, input.subarray(11));
    },
  },
  {
    name: 'relay-media-frame',
    seeds: () => [relayCall.channel.encodeBind(), relayCall.channel.encodeData(Buffer.alloc(60))],
    run(input) {
      const buf = Buffer.from(input);
      parseRelayFrameHeader(buf);
      decodeRelayFrame(buf, Buffer.alloc(32));
      relayCall.channel.receive(buf);
      relayCall.fwd.handleDatagram(buf, { address: '127.0.0.1', port: 5000 });
    },
  },
  {
    name: 'stun',
    seeds: () => [encodeBindingRequest(Buffer.alloc(12, 1))],
    run(input) {
      decodeStun(input);
      stunResponder.handle(input, { address: '127.0.0.1', port: 5000 });
    },
  },
  {
    name: 'key-exchange',
    seeds: () => [json(newExchange().localShareWire())],
    run(input) {
      // The schema check on every input; the signature check (a fresh exchange costs a key
      // generation) only for those that pass it.
      const j = asJson(input);
      if (keyShareFromWire(j).ok) newExchange().accept(j);
    },
  },
  {
    name: 'ipc-messages',
    seeds: () => [
      json({ cmd: 'getSnapshot', args: {} }),
      json({ cmd: 'addContact', args: { name: 'Bob', fingerprint: b.fingerprint } }),
      json({ event: 'notice', payload: { level: 'info', message: 'x' } }),
      new Uint8Array(encodeAudioFrame(1, new Int16Array(960))),
    ],
    run(input) {
      const j = asJson(input);
      parseRequest(j);
      parseEvent(j);
      decodeAudioFrame(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
    },
  },
  {
    name: 'fingerprint-text',
    seeds: () => [te.encode(a.fingerprint), te.encode(`wzp:${a.fingerprint}`)],
    run(input) {
      const s = td.decode(input);
      parseFingerprint(s);
      parseQrPayload(s);
    },
  },
  {
    name: 'wav',
    seeds: () => [encodeWav(new Int16Array(480)), encodeWav(new Int16Array(100), 8000)],
    run(input) {
      try {
        decodeWav(input);
      } catch (e) {
        if (!(e instanceof WavError)) throw e;
      }
    },
  },
  {
    name: 'identity-file',
    seeds: () => [
      json({ type: 'wzp-identity', version: 1, seed: 'A'.repeat(43), fingerprint: a.fingerprint }),
    ],
    run(input) {
      writeFileSync(`${scratch}-id`, input, { mode: 0o600 });
      try {
        loadIdentity(`${scratch}-id`);
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
      }
    },
  },
  {
    name: 'settings-file',
    seeds: () => [json(DEFAULT_SETTINGS)],
    run(input) {
      writeFileSync(`${scratch}-settings`, input);
      loadJsonFile(`${scratch}-settings`, SettingsSchema, () => 0);
    },
  },
];

const stunResponder = new StunResponder({ ratePerSource: 1e9, burstPerSource: 1e9 });
function newExchange(): KeyExchange {
  return new KeyExchange({
    signer: a,
    role: 'caller',
    callId: 'fuzz-call',
    peerFingerprint: randomBytes(32),
  });
}
