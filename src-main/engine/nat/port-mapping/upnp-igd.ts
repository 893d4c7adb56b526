// UPnP Internet Gateway Device (IGD v1 and v2) as far as a softphone needs it: find the gateway's
// WAN connection service with one SSDP search, then add, renew and delete one UDP port mapping and
// read the external address over SOAP. Only the default gateway is believed: an SSDP answer from
// any other host, a description or control URL pointing anywhere but the gateway, an over-long
// or malformed document are all refused, so a LAN host cannot steer us to another address.
// XML is parsed with fast-xml-parser and checked with zod before use.
import dgram from 'node:dgram';
import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';

const SSDP_ADDRESS = '239.255.255.250';
const SSDP_PORT = 1900;
const MAX_DOCUMENT_BYTES = 64 * 1024;
const WAN_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];
const SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
];

export class UpnpError extends Error {
  override readonly name = 'UpnpError';
  constructor(
    message: string,
    /** The UPnP errorCode of a SOAP fault (e.g. 718 ConflictInMappingEntry), when there was one. */
    readonly upnpCode?: number,
  ) {
    super(message);
  }
}

export interface IgdService {
  /** The service type that answered (WANIPConnection:1/2 or WANPPPConnection:1). */
  serviceType: string;
  controlUrl: URL;
}

/** The LOCATION of an SSDP answer; null if it is not an HTTP answer from `gateway` about itself. */
export function parseSsdpResponse(text: string, gateway: string): URL | null {
  const lines = text.split('\r\n');
  if (!/^HTTP\/1\.1 200\b/i.test(lines[0] ?? '')) return null;
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0 || line.slice(0, i).trim().toLowerCase() !== 'location') continue;
    try {
      const url = new URL(line.slice(i + 1).trim());
      if (url.protocol !== 'http:' || url.hostname !== gateway) return null;
      return url;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Sends M-SEARCH to the gateway (from a socket connected to it, so a gateway with nothing on
 * port 1900 answers "port unreachable" and the search ends at once) and to the SSDP group, and
 * resolves with the first LOCATION the gateway gives.
 */
export function ssdpSearch(gateway: string, timeoutMs: number, signal?: AbortSignal): Promise<URL> {
  return new Promise((resolve, reject) => {
    const unicast = dgram.createSocket('udp4');
    const group = dgram.createSocket('udp4');
    let done = false;
    const finish = (err: Error | null, url?: URL) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const s of [unicast, group]) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
      if (err) reject(err);
      else resolve(url as URL);
    };
    const onAbort = () => finish(new UpnpError('SSDP search aborted'));
    const timer = setTimeout(
      () => finish(new UpnpError(`no UPnP gateway answered within ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      if (rinfo.address !== gateway || msg.length > 4096) return;
      const url = parseSsdpResponse(msg.toString('latin1'), gateway);
      if (url) finish(null, url);
    };
    const queries = SEARCH_TARGETS.map((st) =>
      Buffer.from(
        `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`,
      ),
    );
    unicast.on('message', onMessage);
    group.on('message', onMessage);
    const refused = (e: Error) =>
      finish(
        new UpnpError(`no UPnP on the gateway (${(e as NodeJS.ErrnoException).code ?? e.message})`),
      );
    unicast.on('error', refused);
    group.on('error', () => undefined); // the unicast search still stands
    // One at a time: a refusal (ICMP port unreachable) surfaces in the next send's callback.
    const sendNext = (i: number) => {
      const q = queries[i];
      if (q === undefined || done) return;
      unicast.send(q, (err) => (err ? refused(err) : sendNext(i + 1)));
    };
    unicast.connect(SSDP_PORT, gateway, () => sendNext(0));
    group.bind(0, () => {
      for (const q of queries) group.send(q, SSDP_PORT, SSDP_ADDRESS, () => undefined);
    });
  });
}

const xml = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  processEntities: true,
  isArray: (name) => name === 'service' || name === 'device',
});

const ServiceSchema = z
  .object({ serviceType: z.string().max(200), controlURL: z.string().max(1000) })
  .loose();
type DeviceNode = {
  serviceList?: { service?: unknown[] };
  deviceList?: { device?: unknown[] };
};

function collectServices(node: unknown, out: z.infer<typeof ServiceSchema>[], depth = 0): void {
  if (depth > 8 || typeof node !== 'object' || node === null) return;
  const d = node as DeviceNode;
  for (const s of d.serviceList?.service ?? []) {
    const r = ServiceSchema.safeParse(s);
    if (r.success) out.push(r.data);
  }
  for (const child of d.deviceList?.device ?? []) collectServices(child, out, depth + 1);
}

/** The WAN connection service in a device description; its control URL must be on `gateway`. */
export function parseDeviceDescription(text: string, location: URL): IgdService | null {
  let doc: unknown;
  try {
    doc = xml.parse(text);
  } catch {
    return null;
  }
  const root = (doc as { root?: { URLBase?: unknown; device?: unknown[] } }).root;
  if (!root || !Array.isArray(root.device)) return null;
  const services: z.infer<typeof ServiceSchema>[] = [];
  for (const d of root.device) collectServices(d, services);
  const base = typeof root.URLBase === 'string' && root.URLBase.trim() !== '' ? root.URLBase : null;
  for (const type of WAN_SERVICES) {
    const s = services.find((x) => x.serviceType.trim() === type);
    if (!s) continue;
    let url: URL;
    try {
      url = new URL(s.controlURL.trim(), base ?? location);
    } catch {
      return null;
    }
    if (url.protocol !== 'http:' || url.hostname !== location.hostname) return null;
    return { serviceType: type, controlUrl: url };
  }
  return null;
}

async function readBounded(res: Response): Promise<string> {
  const len = Number(res.headers.get('content-length') ?? '0');
  if (len > MAX_DOCUMENT_BYTES) throw new UpnpError(`UPnP document too large (${len} bytes)`);
  const body = res.body;
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > MAX_DOCUMENT_BYTES) throw new UpnpError('UPnP document too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function fetchIgdService(location: URL, timeoutMs: number): Promise<IgdService> {
  const res = await fetch(location, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new UpnpError(`UPnP description: HTTP ${res.status}`);
  const svc = parseDeviceDescription(await readBounded(res), location);
  if (!svc) throw new UpnpError('the UPnP gateway offers no usable WAN connection service');
  return svc;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const FaultSchema = z
  .object({
    Envelope: z.object({
      Body: z.object({
        Fault: z.object({
          detail: z
            .object({
              UPnPError: z
                .object({
                  errorCode: z.union([z.string(), z.number()]),
                  errorDescription: z.string().optional(),
                })
                .loose(),
            })
            .loose(),
        }),
      }),
    }),
  })
  .loose();

/** One SOAP action; resolves with the response element's children as strings. */
export async function soapAction(
  svc: IgdService,
  action: string,
  args: readonly (readonly [string, string | number])[],
  timeoutMs: number,
): Promise<Record<string, string>> {
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>' +
    `<u:${action} xmlns:u="${svc.serviceType}">` +
    args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('') +
    `</u:${action}></s:Body></s:Envelope>\r\n`;
  const res = await fetch(svc.controlUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'text/xml; charset="utf-8"',
      SOAPAction: `"${svc.serviceType}#${action}"`,
    },
    body,
    signal: AbortSignal.timeout(timeoutMs),
    redirect: 'error',
  });
  const text = await readBounded(res);
  let doc: unknown;
  try {
    doc = xml.parse(text);
  } catch {
    throw new UpnpError(`UPnP ${action}: unreadable answer (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const f = FaultSchema.safeParse(doc);
    if (f.success) {
      const e = f.data.Envelope.Body.Fault.detail.UPnPError;
      const code = Number(e.errorCode);
      throw new UpnpError(
        `UPnP ${action}: error ${code} ${e.errorDescription ?? ''}`.trim(),
        Number.isInteger(code) ? code : undefined,
      );
    }
    throw new UpnpError(`UPnP ${action}: HTTP ${res.status}`);
  }
  const out: Record<string, string> = {};
  const resp = (doc as { Envelope?: { Body?: Record<string, unknown> } }).Envelope?.Body?.[
    `${action}Response`
  ];
  if (typeof resp === 'object' && resp !== null) {
    for (const [k, v] of Object.entries(resp)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}
