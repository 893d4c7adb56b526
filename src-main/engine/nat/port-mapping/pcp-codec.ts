// Wire formats of the two gateway port-mapping protocols that share UDP port 5351: PCP
// (RFC 6887, version 2, the MAP opcode) and its predecessor NAT-PMP (RFC 6886, version 0, the
// external-address and UDP-map opcodes). Pure encoders and decoders: every decoder takes bytes
// from the network and returns a typed value or null (never throws), so the client that owns the
// socket only ever handles well-formed answers. IPv4 only: our one socket is IPv4.
import { isIP } from 'node:net';

export const PORT_MAPPING_SERVER_PORT = 5351;

export const PCP_VERSION = 2;
export const NAT_PMP_VERSION = 0;
const PCP_OPCODE_MAP = 1;
const PCP_RESPONSE_BIT = 0x80;
const PCP_HEADER_LENGTH = 24;
const PCP_MAP_LENGTH = PCP_HEADER_LENGTH + 36;
export const PCP_NONCE_LENGTH = 12;
const IPPROTO_UDP = 17;

const PMP_OP_EXTERNAL_ADDRESS = 0;
const PMP_OP_MAP_UDP = 1;
const PMP_RESPONSE_OFFSET = 128;

/** RFC 6887 §7.4 result codes (the ones a client acts on are named in the client). */
export const PCP_RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'SUCCESS',
  1: 'UNSUPP_VERSION',
  2: 'NOT_AUTHORIZED',
  3: 'MALFORMED_REQUEST',
  4: 'UNSUPP_OPCODE',
  5: 'UNSUPP_OPTION',
  6: 'MALFORMED_OPTION',
  7: 'NETWORK_FAILURE',
  8: 'NO_RESOURCES',
  9: 'UNSUPP_PROTOCOL',
  10: 'USER_EX_QUOTA',
  11: 'CANNOT_PROVIDE_EXTERNAL',
  12: 'ADDRESS_MISMATCH',
  13: 'EXCESSIVE_REMOTE_PEERS',
};

/** RFC 6886 §3.5 result codes. */
export const NAT_PMP_RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'Unsupported Version',
  2: 'Not Authorized/Refused',
  3: 'Network Failure',
  4: 'Out of Resources',
  5: 'Unsupported opcode',
};

export const PCP_RESULT_SUCCESS = 0;
export const PCP_RESULT_UNSUPP_VERSION = 1;

function ipv4Bytes(ip: string): Uint8Array {
  if (isIP(ip) !== 4) throw new RangeError(`pcp-codec: not an IPv4 address: ${ip}`);
  return Uint8Array.from(ip.split('.').map(Number));
}

function checkPort(name: string, port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535)
    throw new RangeError(`pcp-codec: bad ${name} ${port}`);
}

function checkLifetime(s: number): void {
  if (!Number.isInteger(s) || s < 0 || s > 0xffffffff)
    throw new RangeError(`pcp-codec: bad lifetime ${s}`);
}

/** An IPv4 address as RFC 6887 carries it: the IPv4-mapped IPv6 form ::ffff:a.b.c.d. */
function writeMappedV4(buf: Uint8Array, offset: number, ip: string | null): void {
  buf.fill(0, offset, offset + 16);
  buf[offset + 10] = 0xff;
  buf[offset + 11] = 0xff;
  if (ip !== null) buf.set(ipv4Bytes(ip), offset + 12);
}

function readMappedV4(buf: Uint8Array, offset: number): string | null {
  for (let i = 0; i < 10; i++) if (buf[offset + i] !== 0) return null;
  if (buf[offset + 10] !== 0xff || buf[offset + 11] !== 0xff) return null;
  return Array.from(buf.subarray(offset + 12, offset + 16)).join('.');
}

export interface PcpMapRequest {
  /** Our address as the gateway sees the request's source (else ADDRESS_MISMATCH). */
  clientIp: string;
  nonce: Uint8Array;
  internalPort: number;
  /** 0: no preference. */
  suggestedExternalPort: number;
  /** null: no preference (all zeros, RFC 6887 §11.1). */
  suggestedExternalIp: string | null;
  /** Seconds; 0 deletes the mapping. */
  lifetimeS: number;
}

export function encodePcpMapRequest(r: PcpMapRequest): Uint8Array {
  if (r.nonce.length !== PCP_NONCE_LENGTH) throw new RangeError('pcp-codec: nonce is 12 bytes');
  checkPort('internal port', r.internalPort, false);
  checkPort('suggested external port', r.suggestedExternalPort, true);
  checkLifetime(r.lifetimeS);
  const buf = new Uint8Array(PCP_MAP_LENGTH);
  const view = new DataView(buf.buffer);
  buf[0] = PCP_VERSION;
  buf[1] = PCP_OPCODE_MAP;
  view.setUint32(4, r.lifetimeS);
  writeMappedV4(buf, 8, r.clientIp);
  buf.set(r.nonce, 24);
  buf[36] = IPPROTO_UDP;
  view.setUint16(40, r.internalPort);
  view.setUint16(42, r.suggestedExternalPort);
  writeMappedV4(buf, 44, r.suggestedExternalIp);
  return buf;
}

export type PcpResponse =
  | {
      kind: 'map';
      resultCode: number;
      lifetimeS: number;
      epochS: number;
      nonce: Uint8Array;
      internalPort: number;
      externalPort: number;
      /** null when the server did not give an IPv4 address (an error answer may hold zeros). */
      externalIp: string | null;
    }
  /** A NAT-PMP-only server's answer to a PCP request (RFC 6887 Appendix A). */
  | { kind: 'version-mismatch'; serverVersion: number; resultCode: number };

/** Decodes a PCP MAP response (or a version-0 "unsupported version" answer); null if invalid. */
export function decodePcpResponse(input: Uint8Array): PcpResponse | null {
  if (input.length < 4) return null;
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const version = input[0] ?? 0;
  if (version !== PCP_VERSION) {
    // A NAT-PMP server answers any other version with result 1 in a version-0 header.
    if (version === NAT_PMP_VERSION && input.length >= 4 && ((input[1] ?? 0) & 0x80) !== 0) {
      return { kind: 'version-mismatch', serverVersion: 0, resultCode: view.getUint16(2) };
    }
    return null;
  }
  if (input.length < PCP_HEADER_LENGTH || input.length > 1100 || input.length % 4 !== 0)
    return null;
  const op = input[1] ?? 0;
  if ((op & PCP_RESPONSE_BIT) === 0 || (op & 0x7f) !== PCP_OPCODE_MAP) return null;
  const resultCode = input[3] ?? 0;
  if (resultCode === PCP_RESULT_UNSUPP_VERSION && input.length < PCP_MAP_LENGTH) {
    return { kind: 'version-mismatch', serverVersion: PCP_VERSION, resultCode };
  }
  if (input.length < PCP_MAP_LENGTH) return null;
  if ((input[36] ?? 0) !== IPPROTO_UDP) return null;
  return {
    kind: 'map',
    resultCode,
    lifetimeS: view.getUint32(4),
    epochS: view.getUint32(8),
    nonce: Uint8Array.from(input.subarray(24, 36)),
    internalPort: view.getUint16(40),
    externalPort: view.getUint16(42),
    externalIp: readMappedV4(input, 44),
  };
}

export function encodeNatPmpExternalAddressRequest(): Uint8Array {
  return Uint8Array.from([NAT_PMP_VERSION, PMP_OP_EXTERNAL_ADDRESS]);
}

export function encodeNatPmpMapUdpRequest(r: {
  internalPort: number;
  suggestedExternalPort: number;
  lifetimeS: number;
}): Uint8Array {
  checkPort('internal port', r.internalPort, false);
  checkPort('suggested external port', r.suggestedExternalPort, true);
  checkLifetime(r.lifetimeS);
  const buf = new Uint8Array(12);
  const view = new DataView(buf.buffer);
  buf[0] = NAT_PMP_VERSION;
  buf[1] = PMP_OP_MAP_UDP;
  view.setUint16(4, r.internalPort);
  view.setUint16(6, r.suggestedExternalPort);
  view.setUint32(8, r.lifetimeS);
  return buf;
}

export type NatPmpResponse =
  | { kind: 'external-address'; resultCode: number; epochS: number; externalIp: string | null }
  | {
      kind: 'map-udp';
      resultCode: number;
      epochS: number;
      internalPort: number;
      externalPort: number;
      lifetimeS: number;
    };

/** Decodes a NAT-PMP response to one of our two requests; null if invalid. */
export function decodeNatPmpResponse(input: Uint8Array): NatPmpResponse | null {
  if (input.length < 8 || (input[0] ?? 1) !== NAT_PMP_VERSION) return null;
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const op = input[1] ?? 0;
  const resultCode = view.getUint16(2);
  const epochS = view.getUint32(4);
  if (op === PMP_RESPONSE_OFFSET + PMP_OP_EXTERNAL_ADDRESS) {
    if (input.length < 12)
      return resultCode === 0
        ? null
        : { kind: 'external-address', resultCode, epochS, externalIp: null };
    return {
      kind: 'external-address',
      resultCode,
      epochS,
      externalIp: Array.from(input.subarray(8, 12)).join('.'),
    };
  }
  if (op === PMP_RESPONSE_OFFSET + PMP_OP_MAP_UDP) {
    if (input.length < 16) {
      if (resultCode === 0) return null;
      return {
        kind: 'map-udp',
        resultCode,
        epochS,
        internalPort: 0,
        externalPort: 0,
        lifetimeS: 0,
      };
    }
    return {
      kind: 'map-udp',
      resultCode,
      epochS,
      internalPort: view.getUint16(8),
      externalPort: view.getUint16(10),
      lifetimeS: view.getUint32(12),
    };
  }
  return null;
}
