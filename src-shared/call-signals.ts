// The end-to-end call signals: what two phones say to each other about one call, whether the
// relay carries them or a direct connection does. Each is validated with these schemas at every
// edge (relay, client), and anything that fails is dropped and counted, never acted on.
// Browser-safe: the renderer shows some of these states.
import { z } from 'zod';

/** A call id: 16 random bytes in base64url, made by the caller. */
export const CallIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/);
export type CallId = z.infer<typeof CallIdSchema>;

// Canonical unpadded base64url only: the regexes pin the length and force the unused trailing
// bits to zero, so each byte string has exactly one accepted text form.
export const B64URL_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
export const B64URL_64 = /^[A-Za-z0-9_-]{85}[AQgw]$/;
/** Printable ASCII without space: keeps the signed key-share transcript unambiguous. */
export const KEY_SHARE_CALL_ID = /^[\x21-\x7e]{1,128}$/;

/** The wire form of a signed X25519 key share (see engine/media/key-exchange.ts). */
export const KeyShareWireSchema = z.strictObject({
  version: z.number().int().min(0).max(255),
  callId: z.string().regex(KEY_SHARE_CALL_ID),
  role: z.enum(['caller', 'callee']),
  ephemeralPublicKey: z.string().regex(B64URL_32),
  identityPublicKey: z.string().regex(B64URL_32),
  signature: z.string().regex(B64URL_64),
});
export type KeyShareWire = z.infer<typeof KeyShareWireSchema>;

const IpSchema = z.union([z.ipv4(), z.ipv6()]);
const PortSchema = z.number().int().min(1).max(65535);

/**
 * An ICE-style transport address candidate (RFC 8445 types; 'relay' is our relay). 'mapped' is
 * ours too: a public address and port the home router reserved for us on request (PCP, NAT-PMP
 * or UPnP-IGD), which unlike 'srflx' holds for every peer even behind endpoint-dependent NAT. A
 * peer built before it drops such a candidate as malformed and uses the others.
 */
export const CandidateSchema = z.strictObject({
  type: z.enum(['host', 'mapped', 'srflx', 'prflx', 'relay']),
  ip: IpSchema,
  port: PortSchema,
  priority: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  foundation: z.string().max(32),
});
export type Candidate = z.infer<typeof CandidateSchema>;

export const HangupReasonSchema = z.enum([
  'normal',
  'no-answer',
  'cancelled',
  'remote-gone',
  'error',
  'security',
]);
export type HangupReason = z.infer<typeof HangupReasonSchema>;

export const PathSchema = z.enum(['direct', 'relay']);
export type MediaPath = z.infer<typeof PathSchema>;

const Seq = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);

export const CallSignalSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('invite'),
    /** The caller wants to try a direct path (its setting); the callee may still refuse. */
    direct: z.boolean(),
    displayName: z.string().max(64).optional(),
  }),
  z.strictObject({ kind: z.literal('ringing') }),
  z.strictObject({ kind: z.literal('accept'), direct: z.boolean() }),
  z.strictObject({
    kind: z.literal('reject'),
    reason: z.enum(['declined', 'busy', 'unavailable']),
  }),
  z.strictObject({ kind: z.literal('hangup'), reason: HangupReasonSchema }),
  z.strictObject({ kind: z.literal('key-share'), share: KeyShareWireSchema }),
  z.strictObject({
    kind: z.literal('ice-candidate'),
    candidate: CandidateSchema.nullable(),
  }),
  z.strictObject({
    kind: z.literal('direct'),
    /**
     * ready: my NAT is open towards your candidates (the dialer may dial now);
     * abandon: I give up on the direct path for this call (reason says why).
     */
    phase: z.enum(['ready', 'abandon']),
    reason: z.string().max(200),
  }),
  z.strictObject({
    kind: z.literal('path-switch'),
    phase: z.enum(['propose', 'ack']),
    path: PathSchema,
    atSeq: Seq,
    epoch: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31),
    reason: z.string().max(64),
  }),
  z.strictObject({
    kind: z.literal('quality'),
    phase: z.enum(['propose', 'ack', 'nack', 'down']),
    tier: z.number().int().min(0).max(15),
    atSeq: Seq,
    reason: z.string().max(64),
  }),
  z.strictObject({
    kind: z.literal('report'),
    lossPct: z.number().min(0).max(100),
    jitterMs: z.number().min(0).max(10_000),
    lateFrames: z.number().int().min(0),
    receivedFrames: z.number().int().min(0),
    /** The sender's own round trip to its relay: end-to-end relay RTT is the sum of both sides'. */
    relayRttMs: z.number().min(0).max(60_000).nullable(),
  }),
]);
export type CallSignal = z.infer<typeof CallSignalSchema>;

export function parseCallSignal(json: unknown): CallSignal | null {
  const r = CallSignalSchema.safeParse(json);
  return r.success ? r.data : null;
}
