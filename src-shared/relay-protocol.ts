// The client <-> relay control protocol, carried as signal frames on the QUIC connection every
// client keeps to its relay. Registration proves ownership of the identity with a signature over
// a fresh challenge; after that the relay knows the connection by fingerprint and forwards call
// signals between the two parties of a call only. Schemas here are the trust boundary on both
// sides: the relay validates what clients send, clients validate what the relay sends.
import { z } from 'zod';
import { B64URL_32, B64URL_64, CallIdSchema, CallSignalSchema } from './call-signals.ts';
import { parseFingerprint, type Fingerprint } from './fingerprint.ts';

export const FingerprintSchema = z
  .string()
  .max(100)
  .transform((s, ctx) => {
    const r = parseFingerprint(s);
    if (!r.ok || r.value !== s) {
      ctx.addIssue({ code: 'custom', message: 'not a canonical fingerprint' });
      return z.NEVER;
    }
    return r.value as Fingerprint;
  });

const HostPortSchema = z
  .string()
  .max(64)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/);

export const MAX_SUBSCRIPTIONS = 1000;
/**
 * Presence travels in batches: the answer to a subscription of N fingerprints is ceil(N / 250)
 * messages, not N (each well under the 64 KiB frame limit).
 */
export const PRESENCE_BATCH = 250;
/** Calls a client can ask a relay to take over at once (it has one, or a few being set up). */
export const MAX_RESUMED_CALLS = 8;

export const ClientToRelaySchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('register'), signature: z.string().regex(B64URL_64) }),
  z.strictObject({
    t: z.literal('subscribe'),
    fingerprints: z.array(FingerprintSchema).max(MAX_SUBSCRIPTIONS),
  }),
  z.strictObject({
    t: z.literal('signal'),
    to: FingerprintSchema,
    callId: CallIdSchema,
    signal: CallSignalSchema,
  }),
  /**
   * After registering (again, or on another relay): the calls this client is in. A relay that
   * does not know a call takes it over once both parties have named it, each naming the other,
   * and grants its media afresh.
   */
  z.strictObject({
    t: z.literal('resume'),
    calls: z
      .array(z.strictObject({ callId: CallIdSchema, peer: FingerprintSchema }))
      .max(MAX_RESUMED_CALLS),
  }),
]);
export type ClientToRelay = z.infer<typeof ClientToRelaySchema>;

export const CallErrorReasonSchema = z.enum([
  'offline',
  'unknown-call',
  'duplicate-call',
  'not-a-party',
  'rate-limited',
  'self-call',
  'relay-full',
  'too-many-calls',
]);
export type CallErrorReason = z.infer<typeof CallErrorReasonSchema>;

export const RelayToClientSchema = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('challenge'),
    nonce: z.string().regex(B64URL_32),
    relay: FingerprintSchema,
  }),
  z.strictObject({
    t: z.literal('registered'),
    you: FingerprintSchema,
    /** The relay's STUN and relay-media UDP address ("0.0.0.0:P" means: the host you dialled). */
    stun: HostPortSchema,
  }),
  z.strictObject({
    t: z.literal('presence'),
    online: z.array(FingerprintSchema).max(PRESENCE_BATCH),
    offline: z.array(FingerprintSchema).max(PRESENCE_BATCH),
  }),
  z.strictObject({
    t: z.literal('signal'),
    from: FingerprintSchema,
    callId: CallIdSchema,
    signal: CallSignalSchema,
  }),
  z.strictObject({
    t: z.literal('call-error'),
    callId: CallIdSchema,
    reason: CallErrorReasonSchema,
  }),
  z.strictObject({
    t: z.literal('media-grant'),
    callId: CallIdSchema,
    channelId: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    key: z.string().regex(B64URL_32),
    media: HostPortSchema,
  }),
  /** Another registration of this identity took over (on this relay or another); says where. */
  z.strictObject({ t: z.literal('replaced'), reason: z.string().max(200).optional() }),
  z.strictObject({ t: z.literal('shutdown'), reason: z.string().max(200) }),
  z.strictObject({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(500) }),
]);
export type RelayToClient = z.infer<typeof RelayToClientSchema>;

export function parseClientToRelay(json: unknown): ClientToRelay | null {
  const r = ClientToRelaySchema.safeParse(json);
  return r.success ? r.data : null;
}

export function parseRelayToClient(json: unknown): RelayToClient | null {
  const r = RelayToClientSchema.safeParse(json);
  return r.success ? r.data : null;
}

/** What the client signs to register: domain-separated, bound to this relay and this challenge. */
export function registrationMessage(
  relay: Fingerprint,
  nonce: string,
  client: Fingerprint,
): Uint8Array {
  return new TextEncoder().encode(`wz-phone/relay-register/v1\n${relay}\n${nonce}\n${client}`);
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}
