// What relays of one cluster say to each other on NATS: the subjects and the message schemas.
// NATS is a trust boundary like the network: every message is JSON checked against these schemas
// at receipt, and one that fails is dropped and counted. Core NATS only (no JetStream): the
// relays holding the clients' connections are the truth, NATS carries interest and events, so
// there is nothing to recover on NATS itself after it restarts (docs/ARCHITECTURE.md, "Cluster").
import { z } from 'zod';
import { B64URL_32, CallIdSchema, CallSignalSchema } from '../../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { CallErrorReasonSchema, FingerprintSchema } from '../../../src-shared/relay-protocol.ts';

/** A relay's cluster name: one NATS subject token, short enough for logs and metrics. */
export const RELAY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const RelayName = z.string().regex(RELAY_NAME);
/** Random per process start, so a restarted relay is told apart from its previous life. */
const Instance = z.string().regex(/^[A-Za-z0-9_-]{8,32}$/);
const HostPort = z
  .string()
  .max(64)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/);
/** Registration order across the cluster: a hybrid logical clock in milliseconds. */
const Epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const SUBJECTS = {
  heartbeat: 'wzp.cluster.heartbeat',
  hello: 'wzp.cluster.hello',
  bye: 'wzp.cluster.bye',
  directory: 'wzp.cluster.directory',
  snapshot: 'wzp.cluster.snapshot',
  /** Messages for the relay that holds this identity's registration (it subscribes while so). */
  to: (fp: Fingerprint): string => `wzp.to.${fp}`,
} as const;

const Origin = { relay: RelayName, instance: Instance };

export const HeartbeatSchema = z.strictObject({
  ...Origin,
  seq: z.number().int().min(0),
  /** The relay's UDP media address, where peers send cross-relay media. */
  media: HostPort,
  registered: z.number().int().min(0),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const HelloSchema = z.strictObject(Origin);
export type Hello = z.infer<typeof HelloSchema>;

export const DirectoryUpdateSchema = z.strictObject({
  ...Origin,
  fp: FingerprintSchema,
  epoch: Epoch,
  online: z.boolean(),
});
export type DirectoryUpdate = z.infer<typeof DirectoryUpdateSchema>;

export const SNAPSHOT_CHUNK = 500;
export const SnapshotSchema = z.strictObject({
  ...Origin,
  /** Snapshots of one relay instance are numbered; parts of one snapshot share `gen`. */
  gen: z.number().int().min(0),
  part: z.number().int().min(0),
  parts: z.number().int().min(1).max(100_000),
  entries: z.array(z.tuple([FingerprintSchema, Epoch])).max(SNAPSHOT_CHUNK),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

/** One relay's half of a call's relay-to-relay media leg: where and how to send to it. */
export const TrunkOfferSchema = z.strictObject({
  channelId: z
    .number()
    .int()
    .min(1)
    .max(2 ** 32 - 1),
  key: z.string().regex(B64URL_32),
  media: HostPort,
});
export type TrunkOffer = z.infer<typeof TrunkOfferSchema>;

const CallAddress = { from: FingerprintSchema, to: FingerprintSchema, callId: CallIdSchema };

export const RoutedSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('signal'),
    ...Origin,
    ...CallAddress,
    signal: CallSignalSchema,
    trunk: TrunkOfferSchema.optional(),
  }),
  z.strictObject({ kind: z.literal('trunk'), ...Origin, ...CallAddress, trunk: TrunkOfferSchema }),
  z.strictObject({
    kind: z.literal('resume'),
    ...Origin,
    ...CallAddress,
    trunk: TrunkOfferSchema.optional(),
  }),
]);
export type Routed = z.infer<typeof RoutedSchema>;

export const InviteReplySchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true) }),
  z.strictObject({ ok: z.literal(false), reason: CallErrorReasonSchema }),
]);
export type InviteReply = z.infer<typeof InviteReplySchema>;

/** Parses a NATS payload as JSON against `schema`; null for anything else. Never throws. */
export function decodeClusterMessage<T>(schema: z.ZodType<T>, data: Uint8Array): T | null {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return null;
  }
  const r = schema.safeParse(json);
  return r.success ? r.data : null;
}
