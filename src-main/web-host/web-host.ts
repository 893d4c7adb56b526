// The web host: a development and test host that serves the built renderer over
// http://127.0.0.1:PORT and carries the IPC contract over one token-protected loopback WebSocket,
// so the real renderer runs in a real Chromium without the Electron binary. It binds loopback
// only, checks the Host header (DNS rebinding) and the Origin, wants a secret token as a WebSocket
// subprotocol, and serves one client at a time. The token never rides a cookie: cookies are not
// port-scoped, so one set here would reach every other server on 127.0.0.1. The first URL's
// `?token=` is moved into the fragment (which no request carries); the page keeps it in
// sessionStorage, which belongs to this origin and port alone. It shares nothing with the
// Electron shell, so it cannot weaken it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  WS_PATH,
  WS_PROTOCOL,
  WS_TOKEN_PROTOCOL_PREFIX,
  WsRequestSchema,
  parseWsText,
  wsEvent,
  wsResponse,
} from '../../src-shared/ipc-envelope.ts';
import { silentLogger, type Logger } from '../app/app-service.ts';
import type { IpcBackend } from '../app/ipc-backend.ts';
import { rendererCsp, resolveRendererFile } from '../desktop/renderer-files.ts';

export interface WebHostOptions {
  backend: IpcBackend;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Defaults to 32 random bytes. */
  token?: string;
  log?: Logger;
}

export interface WebHostCounters {
  rejectedUpgrades: Record<string, number>;
  invalidMessages: number;
  droppedAudioFrames: number;
}

export interface WebHost {
  readonly port: number;
  readonly origin: string;
  readonly token: string;
  /** Open this: it moves the token into the fragment and redirects to the app. */
  readonly url: string;
  counters(): WebHostCounters;
  close(): Promise<void>;
}

const MAX_WS_MESSAGE = 64 * 1024;
const MAX_BUFFERED = 256 * 1024;

const WEB_CSP = rendererCsp('web');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.wav': 'audio/wav',
  '.woff2': 'font/woff2',
};

function tokenEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function protocolToken(header: string | undefined): string | null {
  if (!header) return null;
  for (const p of header.split(',')) {
    const s = p.trim();
    if (s.startsWith(WS_TOKEN_PROTOCOL_PREFIX)) return s.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
  }
  return null;
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const token = opts.token ?? randomBytes(32).toString('base64url');
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(token))
    throw new Error('token must be 16-128 base64url characters');
  const root = resolve(opts.rendererDir);
  const log = opts.log ?? silentLogger;
  const counters: WebHostCounters = {
    rejectedUpgrades: {},
    invalidMessages: 0,
    droppedAudioFrames: 0,
  };
  let port = 0;
  let hostHeader = '';
  let origin = '';
  let client: WebSocket | null = null;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });

  const server: Server = createServer((req, res) => {
    void serveHttp(req, res).catch((e: unknown) => {
      log.warn({ err: String(e) }, 'http request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  async function serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.host !== hostHeader) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong host');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', origin);
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!tokenEquals(given, token)) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('bad token');
        return;
      }
      // Out of the query (which every request and the server's history carry) into the
      // fragment, which the page takes out of the address bar at once.
      res
        .writeHead(303, {
          location: `/#token=${token}`,
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        })
        .end();
      return;
    }
    const file = resolveRendererFile(url.pathname, root);
    if (file === null) {
      res.writeHead(404).end();
      return;
    }
    let body: Buffer;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': body.length,
      'content-security-policy': WEB_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'x-frame-options': 'DENY',
      'permissions-policy': 'microphone=(self), camera=(self)',
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  function reject(socket: Duplex, status: number, reason: string): void {
    counters.rejectedUpgrades[reason] = (counters.rejectedUpgrades[reason] ?? 0) + 1;
    log.warn({ reason }, 'websocket refused');
    const text = status === 409 ? 'Conflict' : status === 404 ? 'Not Found' : 'Forbidden';
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) return reject(socket, 404, 'path');
    if (req.headers.host !== hostHeader) return reject(socket, 403, 'host');
    if (req.headers.origin !== origin) return reject(socket, 403, 'origin');
    const offered = protocolToken(req.headers['sec-websocket-protocol']);
    if (offered === null || !tokenEquals(offered, token)) return reject(socket, 403, 'token');
    if (client !== null) return reject(socket, 409, 'busy');
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws));
  });

  function attach(ws: WebSocket): void {
    client = ws;
    const offEvent = opts.backend.onEvent((e) => {
      if (ws.readyState === ws.OPEN) ws.send(wsEvent(e));
    });
    const offAudio = opts.backend.onAudioOut((frame) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        counters.droppedAudioFrames++;
        return;
      }
      ws.send(frame, { binary: true });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        opts.backend.handleAudioIn(buf);
        return;
      }
      const req = parseWsText(data.toString(), WsRequestSchema);
      if (req === null) {
        counters.invalidMessages++;
        return;
      }
      const { id, cmd, args } = req;
      void opts.backend.handleRequest({ cmd, args }).then((response) => {
        if (ws.readyState === ws.OPEN) ws.send(wsResponse(id, response));
      });
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      offEvent();
      offAudio();
      if (client === ws) client = null;
    });
  }

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', rej);
      res();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  port = addr.port;
  hostHeader = `127.0.0.1:${port}`;
  origin = `http://${hostHeader}`;
  log.info({ origin }, 'web host listening');

  return {
    port,
    origin,
    token,
    url: `${origin}/?token=${token}`,
    counters: () => ({
      rejectedUpgrades: { ...counters.rejectedUpgrades },
      invalidMessages: counters.invalidMessages,
      droppedAudioFrames: counters.droppedAudioFrames,
    }),
    close: async () => {
      client?.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
