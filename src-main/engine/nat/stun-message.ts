// The STUN wire format (RFC 5389) as both ends use it: the client's Binding transactions
// (stun-client.ts) and the relay's responder. Typed helpers to recognise, decode and encode
// Binding messages, with no state and no socket; encoding and decoding go through the `stun`
// package, behind a narrow typed slice of its API.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';

// ---------------------------------------------------------------------------------------------
// The `stun` package ships no types; this is the narrow slice of its API we use, typed here so
// nothing untyped crosses the module boundary.
interface StunAddressValue {
  address: string;
  port: number;
  family: string;
}
interface StunLibMessage {
  readonly type: number;
  readonly transactionId: Buffer;
  isLegacy(): boolean;
  getXorAddress(): StunAddressValue | undefined;
  getAddress(): StunAddressValue | undefined;
  getSoftware(): string | undefined;
}
interface StunLibRequest {
  addXorAddress(address: string, port: number): unknown;
  addSoftware(software: string): unknown;
  toBuffer(): Buffer;
}
interface StunLib {
  createMessage(type: number, transactionId?: Buffer): StunLibRequest;
  decode(buf: Buffer): StunLibMessage;
}
const stun = createRequire(import.meta.url)('stun') as StunLib;

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LENGTH = 20;
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;
export const STUN_BINDING_ERROR = 0x0111;
const ATTR_ERROR_CODE = 0x0009;

export type StunFamily = 'IPv4' | 'IPv6';
export interface StunMappedAddress {
  address: string;
  port: number;
  family: StunFamily;
}

/** What a demultiplexer needs: first byte 0..3 (RFC 7983) and the magic cookie at offset 4. */
export function isStunPacket(buf: Uint8Array): boolean {
  if (buf.length < STUN_HEADER_LENGTH) return false;
  const b0 = buf[0] ?? 0xff;
  if (b0 > 3) return false;
  return buf[4] === 0x21 && buf[5] === 0x12 && buf[6] === 0xa4 && buf[7] === 0x42;
}

export type StunDecodeFailure = 'not-stun' | 'bad-length' | 'malformed';
export interface DecodedStun {
  type: number;
  transactionId: Buffer;
  xorMapped: StunMappedAddress | undefined;
  mapped: StunMappedAddress | undefined;
  error: { code: number; reason: string } | undefined;
  software: string | undefined;
}

function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

function toMapped(v: StunAddressValue | undefined): StunMappedAddress | undefined {
  if (v === undefined || typeof v.address !== 'string' || typeof v.port !== 'number')
    return undefined;
  const fam = isIP(v.address);
  if (fam === 0 || !Number.isInteger(v.port) || v.port < 1 || v.port > 65535) return undefined;
  return { address: v.address, port: v.port, family: fam === 4 ? 'IPv4' : 'IPv6' };
}

// The package decodes ERROR-CODE as class*(number+100) (420 comes out as 480), so that one
// attribute is read from the raw TLVs; the header was already validated by the caller.
function readErrorCode(buf: Buffer): { code: number; reason: string } | undefined {
  let off = STUN_HEADER_LENGTH;
  while (off + 4 <= buf.length) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    const start = off + 4;
    if (start + len > buf.length) return undefined;
    if (type === ATTR_ERROR_CODE) {
      if (len < 4) return undefined;
      const cls = (buf[start + 2] ?? 0) & 0x07;
      const num = buf[start + 3] ?? 0;
      return {
        code: cls * 100 + num,
        reason: buf.subarray(start + 4, start + len).toString('utf8'),
      };
    }
    off = start + len + ((4 - (len % 4)) % 4);
  }
  return undefined;
}

/** Decodes one STUN message; never throws. Legacy RFC 3489 messages count as not STUN. */
export function decodeStun(input: Uint8Array): DecodedStun | StunDecodeFailure {
  if (!isStunPacket(input)) return 'not-stun';
  const buf = asBuffer(input);
  const bodyLen = buf.readUInt16BE(2);
  if (bodyLen !== buf.length - STUN_HEADER_LENGTH || bodyLen % 4 !== 0) return 'bad-length';
  try {
    const msg = stun.decode(buf);
    const isError = (msg.type & 0x0110) === 0x0110;
    const software = msg.getSoftware();
    return {
      type: msg.type,
      transactionId: Buffer.from(msg.transactionId),
      xorMapped: toMapped(msg.getXorAddress()),
      mapped: toMapped(msg.getAddress()),
      error: isError ? (readErrorCode(buf) ?? { code: 0, reason: '' }) : undefined,
      software: typeof software === 'string' ? software : undefined,
    };
  } catch {
    return 'malformed';
  }
}

export function encodeBindingRequest(transactionId: Buffer): Buffer {
  return stun.createMessage(STUN_BINDING_REQUEST, transactionId).toBuffer();
}

/** RFC 5780 CHANGE-REQUEST; only its change-port flag is used here. */
const ATTR_CHANGE_REQUEST = 0x0003;
const CHANGE_PORT_FLAG = 0x02;

/**
 * A Binding request asking the server to answer from its alternate port (RFC 5780
 * CHANGE-REQUEST, change-port flag): the answer gets through our NAT only if we opened it
 * towards that port ourselves, which is how a client learns how many hops its NAT layers span.
 */
export function encodeChangePortRequest(transactionId: Buffer): Buffer {
  const base = encodeBindingRequest(transactionId);
  const attr = Buffer.alloc(8);
  attr.writeUInt16BE(ATTR_CHANGE_REQUEST, 0);
  attr.writeUInt16BE(4, 2);
  attr.writeUInt32BE(CHANGE_PORT_FLAG, 4);
  const out = Buffer.concat([base, attr]);
  out.writeUInt16BE(out.length - STUN_HEADER_LENGTH, 2);
  return out;
}

/** Whether a (validated) STUN message carries CHANGE-REQUEST with the change-port flag. */
export function wantsChangePort(input: Uint8Array): boolean {
  const buf = asBuffer(input);
  let off = STUN_HEADER_LENGTH;
  while (off + 4 <= buf.length) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    const start = off + 4;
    if (start + len > buf.length) return false;
    if (type === ATTR_CHANGE_REQUEST) {
      return len === 4 && (buf.readUInt32BE(start) & CHANGE_PORT_FLAG) !== 0;
    }
    off = start + len + ((4 - (len % 4)) % 4);
  }
  return false;
}

/** Throws on an invalid address or an over-long software string; callers validate first. */
export function encodeBindingSuccess(
  transactionId: Buffer,
  mapped: { address: string; port: number },
  software?: string,
): Buffer {
  const msg = stun.createMessage(STUN_BINDING_SUCCESS, transactionId);
  msg.addXorAddress(mapped.address, mapped.port);
  if (software !== undefined) msg.addSoftware(software);
  return msg.toBuffer();
}

/** Where a datagram came from (node:dgram's RemoteInfo, narrowed). */
export interface RemoteInfo {
  address: string;
  port: number;
}
