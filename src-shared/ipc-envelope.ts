// How the IPC contract's messages travel, in one place for both ends. In Electron the request
// envelope ({cmd, args}) rides `ipcRenderer.invoke` on IPC_CHANNELS.invoke and events ride
// IPC_CHANNELS.event; on the web host's WebSocket the same envelopes are wrapped in a tagged
// message (`req` with an id, `res` with that id, `evt`), as JSON text, and audio frames are
// binary messages. Both sides parse what they receive with the schemas here.
import { z } from 'zod';
import type { IpcEvent, IpcRequest, IpcResponse } from './ipc-contract.ts';

/** Electron IPC channel names (one place, as in Mattermost desktop). */
export const IPC_CHANNELS = {
  invoke: 'wzp:invoke',
  event: 'wzp:event',
  audioPort: 'wzp:audio-port',
} as const;

/** The web host's WebSocket: its path, its subprotocol, and the token's subprotocol prefix. */
export const WS_PATH = '/ipc';
export const WS_PROTOCOL = 'wzp.v1';
export const WS_TOKEN_PROTOCOL_PREFIX = 'wzp.token.';
/** No text message is larger; the largest is a snapshot of 10,000 contacts and entries. */
const WS_MAX_TEXT_CHARS = 4_000_000;

const RequestId = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31);

/** Page → host: one request, answered by a `res` with the same id. */
export const WsRequestSchema = z.strictObject({
  t: z.literal('req'),
  id: RequestId,
  cmd: z.string().max(64),
  args: z.unknown(),
});

/** Host → page: a response (its envelope checked later, against the command) or an event. */
export const WsHostMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('res'), id: RequestId, response: z.unknown() }),
  z.strictObject({ t: z.literal('evt'), event: z.string().max(64), payload: z.unknown() }),
]);

export function wsRequest(id: number, req: IpcRequest): string {
  return JSON.stringify({ t: 'req', id, cmd: req.cmd, args: req.args });
}

export function wsResponse(id: number, response: IpcResponse): string {
  return JSON.stringify({ t: 'res', id, response });
}

export function wsEvent(e: IpcEvent): string {
  return JSON.stringify({ t: 'evt', event: e.event, payload: e.payload });
}

/** Parse one untrusted text message with `schema`; null when it is not JSON or off-schema. */
export function parseWsText<S extends z.ZodType>(
  text: string,
  schema: S,
  maxChars = WS_MAX_TEXT_CHARS,
): z.output<S> | null {
  if (text.length > maxChars) return null;
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return null;
  }
  const r = schema.safeParse(msg);
  return r.success ? r.data : null;
}
