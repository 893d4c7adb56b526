// The typed IPC contract between the renderer and the main side (Electron main process or the
// web host): every command with zod schemas for its arguments and result, every event the main
// side pushes, and the binary audio frame format. Both hosts and the preload validate against
// these schemas, so a message that does not match is dropped and counted, never acted on.
// Browser-safe: the renderer and the preload import it.
import { z } from 'zod';
import { PathSchema } from './call-signals.ts';
import { describeFingerprintError, parseFingerprint, type Fingerprint } from './fingerprint.ts';
import { parseHostPort } from './relay-protocol.ts';

// ---------------------------------------------------------------------------------------------
// Value schemas

/** Accepts any typed form (grouped, upper case) and yields the canonical fingerprint. */
export const FingerprintInputSchema = z
  .string()
  .max(200)
  .transform((s, ctx): Fingerprint => {
    const r = parseFingerprint(s);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: describeFingerprintError(r.error) });
      return z.NEVER;
    }
    return r.value;
  });

/** "host:port" or "[v6]:port", port 1-65535. */
export const HostPortSchema = z
  .string()
  .trim()
  .max(300)
  .refine((s) => {
    const hp = parseHostPort(s);
    if (hp === null || hp.port < 1 || hp.host.length === 0 || hp.host.length > 253) return false;
    // A DNS name or IPv4 address; IPv6 only in brackets (parseHostPort strips them).
    return (
      /^[A-Za-z0-9.-]+$/.test(hp.host) || (s.startsWith('[') && /^[0-9A-Fa-f:.]+$/.test(hp.host))
    );
  }, 'expected host:port, e.g. relay.example.org:4433');

export const ContactIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,32}$/);
export const CallIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/** A person's display name: printable, trimmed, 1-64 characters. */
export const NameSchema = z
  .string()
  .trim()
  .min(1, 'a name is required')
  .max(64, 'names are at most 64 characters')
  .refine((s) => !/\p{Cc}/u.test(s), 'names cannot contain control characters');

const Timestamp = z.number().int().min(0);

export const RelaySettingsSchema = z.strictObject({
  address: HostPortSchema,
  fingerprint: FingerprintInputSchema,
});
export type RelaySettings = z.output<typeof RelaySettingsSchema>;

export const AudioSettingsSchema = z.strictObject({
  inputDeviceId: z.string().max(512).nullable(),
  outputDeviceId: z.string().max(512).nullable(),
});

export const SettingsSchema = z.strictObject({
  displayName: z.string().trim().max(64).nullable(),
  relay: RelaySettingsSchema.nullable(),
  stunServers: z.array(HostPortSchema).max(8),
  directCalls: z.boolean(),
  /** Ask the home router for a port mapping (PCP, NAT-PMP, UPnP-IGD) for direct calls. */
  portMapping: z.boolean(),
  audio: AudioSettingsSchema,
  startAtLogin: z.boolean(),
  closeToTray: z.boolean(),
});
export type Settings = z.output<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = {
  displayName: null,
  relay: null,
  stunServers: [],
  directCalls: true,
  portMapping: true,
  audio: { inputDeviceId: null, outputDeviceId: null },
  startAtLogin: false,
  closeToTray: true,
};

/** A partial update: any subset of settings; relay goes through `configureRelay`. */
export const SettingsPatchSchema = SettingsSchema.omit({ relay: true }).partial();
export type SettingsPatch = z.output<typeof SettingsPatchSchema>;

export const KeyChangeSchema = z.strictObject({
  previousFingerprint: FingerprintInputSchema,
  changedAt: Timestamp,
});

export const ContactSchema = z.strictObject({
  id: ContactIdSchema,
  name: NameSchema,
  fingerprint: FingerprintInputSchema,
  /** Added (or re-confirmed) by scanning the person's QR code. */
  verified: z.boolean(),
  addedAt: Timestamp,
  lastCallAt: Timestamp.nullable(),
  /** Set when the contact's key was replaced; shown loudly until acknowledged. */
  keyChange: KeyChangeSchema.nullable(),
});
export type Contact = z.output<typeof ContactSchema>;

export const ContactViewSchema = ContactSchema.extend({ online: z.boolean() });
export type ContactView = z.output<typeof ContactViewSchema>;

export const CallOutcomeSchema = z.enum(['answered', 'missed', 'declined', 'cancelled', 'failed']);
export type CallOutcome = z.output<typeof CallOutcomeSchema>;

export const HistoryEntrySchema = z.strictObject({
  id: z.string().max(64),
  peer: FingerprintInputSchema,
  contactId: ContactIdSchema.nullable(),
  name: z.string().max(64).nullable(),
  direction: z.enum(['outgoing', 'incoming']),
  startedAt: Timestamp,
  durationS: z.number().min(0),
  outcome: CallOutcomeSchema,
  reason: z.string().max(64),
  path: PathSchema.nullable(),
});
export type HistoryEntry = z.output<typeof HistoryEntrySchema>;

export const RelayStateSchema = z.enum([
  'unconfigured',
  'connecting',
  'registered',
  'reconnecting',
  'failed',
  'stopped',
]);
export type RelayStateView = z.output<typeof RelayStateSchema>;

export const CallStatsViewSchema = z.strictObject({
  rttMs: z.number().nullable(),
  lossPct: z.number(),
  jitterMs: z.number().nullable(),
  bitrateKbps: z.number(),
  tier: z.number(),
  /** When the figures were measured (epoch ms): older than 2 s, they are no data. */
  measuredAt: Timestamp.optional(),
});

export const CallViewSchema = z.strictObject({
  id: CallIdSchema,
  peer: FingerprintInputSchema,
  contactId: ContactIdSchema.nullable(),
  name: z.string().max(64).nullable(),
  /** The contact's key was replaced and not yet acknowledged: warn during the call. */
  keyWarning: z.boolean(),
  verified: z.boolean(),
  direction: z.enum(['outgoing', 'incoming']),
  state: z.enum(['calling', 'ringing', 'connected', 'ended']),
  path: PathSchema.nullable(),
  muted: z.boolean(),
  startedAt: Timestamp,
  connectedAt: Timestamp.nullable(),
  /** Null while nothing current is known (before media, or the peer is silent). */
  stats: CallStatsViewSchema.nullable(),
  /** Nothing heard from the peer on any path for ~2 s; the call ends after ~15 s of it. */
  reconnecting: z.boolean().optional(),
  /** The short authentication string both sides can read aloud. */
  sas: z.string().max(64).nullable(),
});
export type CallView = z.output<typeof CallViewSchema>;

export const SnapshotSchema = z.strictObject({
  identity: z.strictObject({ fingerprint: FingerprintInputSchema }).nullable(),
  settings: SettingsSchema,
  relay: z.strictObject({
    state: RelayStateSchema,
    detail: z.string().max(500).nullable(),
    /** When the app tries the relay again (after it could not reach it), epoch ms. */
    retryAt: Timestamp.nullable().optional(),
  }),
  contacts: z.array(ContactViewSchema).max(10_000),
  history: z.array(HistoryEntrySchema).max(10_000),
  call: CallViewSchema.nullable(),
});
export type Snapshot = z.output<typeof SnapshotSchema>;

// ---------------------------------------------------------------------------------------------
// Commands (renderer → main)

const NoArgs = z.strictObject({});
const Ok = z.strictObject({ ok: z.literal(true) });
const ById = z.strictObject({ id: ContactIdSchema });
const ByCall = z.strictObject({ callId: CallIdSchema });
const ContactSource = z.enum(['typed', 'qr']);

export const Commands = {
  getSnapshot: { args: NoArgs, result: SnapshotSchema },
  createIdentity: {
    args: NoArgs,
    result: z.strictObject({ fingerprint: FingerprintInputSchema }),
  },
  configureRelay: { args: RelaySettingsSchema, result: SettingsSchema },
  updateSettings: { args: SettingsPatchSchema, result: SettingsSchema },
  addContact: {
    args: z.strictObject({
      name: NameSchema,
      fingerprint: FingerprintInputSchema,
      source: ContactSource,
    }),
    result: ContactSchema,
  },
  renameContact: {
    args: z.strictObject({ id: ContactIdSchema, name: NameSchema }),
    result: ContactSchema,
  },
  removeContact: { args: ById, result: Ok },
  replaceContactKey: {
    args: z.strictObject({
      id: ContactIdSchema,
      fingerprint: FingerprintInputSchema,
      source: ContactSource,
    }),
    result: ContactSchema,
  },
  acknowledgeKeyChange: { args: ById, result: ContactSchema },
  startCall: { args: ById, result: z.strictObject({ callId: CallIdSchema }) },
  answerCall: { args: ByCall, result: Ok },
  declineCall: { args: ByCall, result: Ok },
  hangUp: { args: ByCall, result: Ok },
  setMuted: { args: z.strictObject({ callId: CallIdSchema, muted: z.boolean() }), result: Ok },
  clearHistory: { args: NoArgs, result: Ok },
} as const;

export type CommandName = keyof typeof Commands;
export type CommandArgs<C extends CommandName> = z.input<(typeof Commands)[C]['args']>;
export type CommandResult<C extends CommandName> = z.output<(typeof Commands)[C]['result']>;
export const COMMAND_NAMES = Object.keys(Commands) as CommandName[];

export function isCommandName(s: unknown): s is CommandName {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(Commands, s);
}

export const ErrorCodeSchema = z.enum([
  'invalid-request',
  'invalid-args',
  'unknown-command',
  'not-found',
  'conflict',
  'key-changed',
  'no-identity',
  'not-ready',
  'busy',
  'engine',
  'internal',
]);
export type ErrorCode = z.output<typeof ErrorCodeSchema>;

export const IpcErrorSchema = z.strictObject({
  code: ErrorCodeSchema,
  message: z.string().max(1000),
});
export type IpcError = z.output<typeof IpcErrorSchema>;

export type IpcResult<C extends CommandName> =
  { ok: true; result: CommandResult<C> } | { ok: false; error: IpcError };

/** The response envelope as it crosses the process boundary (the result not yet checked). */
export const ResponseSchema = z.union([
  z.strictObject({ ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: IpcErrorSchema }),
]);
export type IpcResponse = z.output<typeof ResponseSchema>;

/** The request envelope as it crosses the process boundary. */
export const RequestSchema = z.strictObject({
  cmd: z.string().max(64),
  args: z.unknown(),
});
export type IpcRequest = z.output<typeof RequestSchema>;

/** A validated request: the command name and its parsed arguments. */
export type ParsedRequest = {
  [C in CommandName]: { cmd: C; args: z.output<(typeof Commands)[C]['args']> };
}[CommandName];

export type RequestParse = { ok: true; request: ParsedRequest } | { ok: false; error: IpcError };

/** Validate an untrusted request envelope and its arguments against the contract. */
export function parseRequest(raw: unknown): RequestParse {
  const env = RequestSchema.safeParse(raw);
  if (!env.success) {
    return { ok: false, error: { code: 'invalid-request', message: 'malformed request' } };
  }
  const { cmd, args } = env.data;
  if (!isCommandName(cmd)) {
    return { ok: false, error: { code: 'unknown-command', message: `unknown command "${cmd}"` } };
  }
  const parsed = Commands[cmd].args.safeParse(args ?? {});
  if (!parsed.success) {
    return { ok: false, error: { code: 'invalid-args', message: firstIssue(parsed.error) } };
  }
  return { ok: true, request: { cmd, args: parsed.data } as ParsedRequest };
}

/** Validate a result on the receiving side (web transport, preload). */
export function parseResponse<C extends CommandName>(cmd: C, raw: unknown): IpcResult<C> {
  const env = ResponseSchema.safeParse(raw);
  if (!env.success) {
    return { ok: false, error: { code: 'internal', message: 'malformed response from main' } };
  }
  if (!env.data.ok) return { ok: false, error: env.data.error };
  const r = Commands[cmd].result.safeParse(env.data.result);
  if (!r.success) {
    return { ok: false, error: { code: 'internal', message: 'malformed result from main' } };
  }
  return { ok: true, result: r.data as CommandResult<C> };
}

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  if (!i) return 'invalid arguments';
  const where = i.path.length > 0 ? `${i.path.join('.')}: ` : '';
  return `${where}${i.message}`;
}

// ---------------------------------------------------------------------------------------------
// Events (main → renderer)

export const NoticeSchema = z.strictObject({
  level: z.enum(['info', 'warning', 'error']),
  message: z.string().max(1000),
});
export type Notice = z.output<typeof NoticeSchema>;

export const Events = {
  /** The whole application state; sent after every change (coalesced). */
  snapshot: SnapshotSchema,
  /** Something the user should read (call ended, relay identity mismatch, ...). */
  notice: NoticeSchema,
} as const;

export type EventName = keyof typeof Events;
export type EventPayload<E extends EventName> = z.output<(typeof Events)[E]>;

export type IpcEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];

export function isEventName(s: unknown): s is EventName {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(Events, s);
}

export function parseEvent(raw: unknown): IpcEvent | null {
  const env = z.strictObject({ event: z.string().max(64), payload: z.unknown() }).safeParse(raw);
  if (!env.success || !isEventName(env.data.event)) return null;
  const r = Events[env.data.event].safeParse(env.data.payload);
  if (!r.success) return null;
  return { event: env.data.event, payload: r.data } as IpcEvent;
}

// ---------------------------------------------------------------------------------------------
// Audio frames (both directions; MessagePort in Electron, binary WebSocket messages on the web)
//
//   offset 0  u8   kind (1 = PCM)
//   offset 1  u8×3 reserved, zero
//   offset 4  u32  sequence number, little-endian
//   offset 8  i16×960 PCM samples, 48 kHz mono, little-endian (20 ms)

export const AUDIO_SAMPLE_RATE = 48_000;
export const AUDIO_FRAME_SAMPLES = 960;
export const AUDIO_FRAME_HEADER_BYTES = 8;
export const AUDIO_FRAME_BYTES = AUDIO_FRAME_HEADER_BYTES + AUDIO_FRAME_SAMPLES * 2;
const AUDIO_KIND_PCM = 1;

export interface AudioFrame {
  seq: number;
  samples: Int16Array;
}

export function encodeAudioFrame(seq: number, samples: Int16Array): ArrayBuffer {
  if (samples.length !== AUDIO_FRAME_SAMPLES) {
    throw new RangeError(`an audio frame is ${AUDIO_FRAME_SAMPLES} samples, got ${samples.length}`);
  }
  const buf = new ArrayBuffer(AUDIO_FRAME_BYTES);
  const dv = new DataView(buf);
  dv.setUint8(0, AUDIO_KIND_PCM);
  dv.setUint32(4, seq >>> 0, true);
  for (let i = 0; i < AUDIO_FRAME_SAMPLES; i++) {
    dv.setInt16(AUDIO_FRAME_HEADER_BYTES + i * 2, samples[i] as number, true);
  }
  return buf;
}

/** Decode an untrusted frame; null for anything that is not exactly one well-formed frame. */
export function decodeAudioFrame(raw: unknown): AudioFrame | null {
  let view: DataView;
  if (raw instanceof ArrayBuffer) view = new DataView(raw);
  else if (ArrayBuffer.isView(raw)) view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  else return null;
  if (view.byteLength !== AUDIO_FRAME_BYTES) return null;
  if (view.getUint8(0) !== AUDIO_KIND_PCM) return null;
  if (view.getUint8(1) !== 0 || view.getUint8(2) !== 0 || view.getUint8(3) !== 0) return null;
  const samples = new Int16Array(AUDIO_FRAME_SAMPLES);
  for (let i = 0; i < AUDIO_FRAME_SAMPLES; i++) {
    samples[i] = view.getInt16(AUDIO_FRAME_HEADER_BYTES + i * 2, true);
  }
  return { seq: view.getUint32(4, true), samples };
}

// ---------------------------------------------------------------------------------------------
// The API object the renderer sees (window.wzp in Electron, a WebSocket client on the web host)

export interface WzpApi {
  invoke<C extends CommandName>(cmd: C, args: CommandArgs<C>): Promise<IpcResult<C>>;
  on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void;
  audio: {
    /** One encoded frame (see encodeAudioFrame). */
    send(frame: ArrayBuffer): void;
    onFrame(handler: (frame: ArrayBuffer) => void): () => void;
  };
}
