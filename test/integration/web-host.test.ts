// The web host on loopback: static files with the CSP and without path traversal, the Host
// check, the token (query → fragment → WebSocket subprotocol, never a cookie), the Origin check,
// one client at a time, and IPC requests, events and audio frames over the socket, invalid ones
// counted.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { startWebHost, type WebHost } from '../../src-main/web-host/web-host.ts';
import { WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX } from '../../src-shared/ipc-envelope.ts';
import type { IpcEvent, IpcResponse } from '../../src-shared/ipc-contract.ts';
import type { IpcBackend } from '../../src-main/app/ipc-backend.ts';

class StubBackend implements IpcBackend {
  requests: unknown[] = [];
  audio: unknown[] = [];
  #ev = new Set<(e: IpcEvent) => void>();
  #au = new Set<(f: ArrayBuffer) => void>();
  async handleRequest(raw: unknown): Promise<IpcResponse> {
    this.requests.push(raw);
    return { ok: true, result: { echoed: raw } };
  }
  handleAudioIn(raw: unknown): void {
    this.audio.push(raw);
  }
  onEvent(l: (e: IpcEvent) => void): () => void {
    this.#ev.add(l);
    return () => this.#ev.delete(l);
  }
  onAudioOut(l: (f: ArrayBuffer) => void): () => void {
    this.#au.add(l);
    return () => this.#au.delete(l);
  }
  emit(e: IpcEvent): void {
    for (const l of this.#ev) l(e);
  }
  emitAudio(f: ArrayBuffer): void {
    for (const l of this.#au) l(f);
  }
  get listeners(): number {
    return this.#ev.size;
  }
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(
  host: WebHost,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: host.port,
        path,
        method,
        headers: { host: `127.0.0.1:${host.port}`, ...headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function connect(
  host: WebHost,
  o: { origin?: string; protocols?: string[]; cookie?: string; hostHeader?: string } = {},
): Promise<{ ws: WebSocket; status: number | null }> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (o.cookie) headers.cookie = o.cookie;
    if (o.hostHeader) headers.host = o.hostHeader;
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ipc`, o.protocols ?? [WS_PROTOCOL], {
      origin: o.origin ?? host.origin,
      headers,
    });
    ws.on('open', () => resolve({ ws, status: null }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ws, status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.on('error', () => resolve({ ws, status: -1 }));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })),
  );
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition reached');
}

describe('web host', () => {
  let dir: string;
  let host: WebHost;
  const backend = new StubBackend();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wzp-web-'));
    mkdirSync(join(dir, 'renderer', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'renderer', 'index.html'), '<!doctype html><title>wz</title>');
    writeFileSync(join(dir, 'renderer', 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'do not serve');
    host = await startWebHost({ backend, rendererDir: join(dir, 'renderer') });
  });
  after(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves the renderer with a strict CSP and nothing outside it', async () => {
    const index = await get(host, '/');
    assert.equal(index.status, 200);
    assert.match(index.body, /<title>wz/);
    const csp = String(index.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    const js = await get(host, '/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/../../secret.txt', '/%00']) {
      const r = await get(host, p);
      assert.notEqual(r.status, 200, p);
      assert.doesNotMatch(r.body, /do not serve/, p);
    }
    assert.equal((await get(host, '/', {}, 'POST')).status, 405);
  });

  test('another Host header (DNS rebinding) is refused', async () => {
    const r = await get(host, '/', { host: 'evil.example:80' });
    assert.equal(r.status, 421);
  });

  test('the token in the first URL moves to the fragment, never to a cookie', async () => {
    const r = await get(host, `/?token=${host.token}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, `/#token=${host.token}`);
    // Cookies are not port-scoped: one set here would reach every server on 127.0.0.1.
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal((await get(host, '/?token=wrong-token-000000000')).status, 403);
  });

  test('WebSocket: origin, host and token are checked; one client at a time', async () => {
    const before = host.counters().rejectedUpgrades;
    const noToken = await connect(host);
    assert.equal(noToken.status, 403);
    const badOrigin = await connect(host, {
      origin: 'http://evil.example',
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(badOrigin.status, 403);
    const badToken = await connect(host, {
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + 'x'.repeat(43)],
    });
    assert.equal(badToken.status, 403);
    const badHost = await connect(host, {
      hostHeader: 'localhost.evil:1',
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(badHost.status, 403);
    const c = host.counters().rejectedUpgrades;
    assert.equal((c.token ?? 0) - (before.token ?? 0), 2);
    assert.equal((c.origin ?? 0) - (before.origin ?? 0), 1);
    assert.equal((c.host ?? 0) - (before.host ?? 0), 1);

    const byCookie = await connect(host, { cookie: `wzp_token=${host.token}` });
    assert.equal(byCookie.status, 403, 'a token in a cookie is not accepted');
    const first = await connect(host, {
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(first.status, null, 'the subprotocol token is accepted');
    const second = await connect(host, {
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(second.status, 409);
    first.ws.close();
    await waitFor(() => backend.listeners === 0);
    const third = await connect(host, {
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(third.status, null, 'the subprotocol token is accepted once the slot is free');
    assert.equal(third.ws.protocol, WS_PROTOCOL);
    third.ws.close();
    await waitFor(() => backend.listeners === 0);
  });

  test('requests, events and audio cross the socket; malformed messages are counted', async () => {
    const { ws, status } = await connect(host, {
      protocols: [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + host.token],
    });
    assert.equal(status, null);
    try {
      const invalidBefore = host.counters().invalidMessages;
      ws.send('not json');
      ws.send(JSON.stringify({ t: 'req', id: -1, cmd: 'getSnapshot', args: {} }));
      ws.send(JSON.stringify({ t: 'req', id: 1, cmd: 'getSnapshot', args: {}, more: true }));
      const reply = nextMessage(ws);
      ws.send(JSON.stringify({ t: 'req', id: 7, cmd: 'getSnapshot', args: {} }));
      const r = await reply;
      assert.equal(r.binary, false);
      const parsed = JSON.parse(r.data.toString()) as {
        t: string;
        id: number;
        response: IpcResponse;
      };
      assert.equal(parsed.t, 'res');
      assert.equal(parsed.id, 7);
      assert.deepEqual(parsed.response, {
        ok: true,
        result: { echoed: { cmd: 'getSnapshot', args: {} } },
      });
      assert.equal(host.counters().invalidMessages - invalidBefore, 3);
      assert.equal(backend.requests.length, 1, 'only the valid request reached the backend');

      const evt = nextMessage(ws);
      backend.emit({ event: 'notice', payload: { level: 'info', message: 'hello' } });
      assert.deepEqual(JSON.parse((await evt).data.toString()), {
        t: 'evt',
        event: 'notice',
        payload: { level: 'info', message: 'hello' },
      });

      const audio = nextMessage(ws);
      backend.emitAudio(new Uint8Array([1, 2, 3]).buffer);
      const a = await audio;
      assert.equal(a.binary, true);
      assert.deepEqual([...a.data], [1, 2, 3]);

      ws.send(new Uint8Array([9, 8, 7]));
      await waitFor(() => backend.audio.length === 1);
      assert.deepEqual([...(backend.audio[0] as Buffer)], [9, 8, 7]);
    } finally {
      ws.close();
      await waitFor(() => backend.listeners === 0);
    }
  });
});
