// The shell's security rules as pure functions (no electron import), so they are unit-tested:
// which URLs the app serves and trusts, the CSP it sends, and which IPC senders may talk to the
// main process (only the top frame of our own window, loaded from our own origin).
import { rendererCsp, resolveRendererFile } from '../desktop/renderer-files.ts';

export const APP_SCHEME = 'app';
export const APP_HOST = 'wzp';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_START_URL = `${APP_ORIGIN}/index.html`;

export const ELECTRON_CSP = rendererCsp('electron');

/** Map an app:// request to a file under the renderer directory, or null (→ 404). */
export function resolveAppFile(requestUrl: string, rendererDir: string): string | null {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  return resolveRendererFile(url.pathname, rendererDir);
}

export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** What the main process knows about the frame that sent an IPC message. */
export interface SenderInfo {
  /** The sending frame's URL (senderFrame.url). */
  url: string | null;
  /** senderFrame.parent === null. */
  isTopFrame: boolean;
  /** The sender's webContents belongs to our one window. */
  isOurWindow: boolean;
}

export function isTrustedSender(s: SenderInfo): boolean {
  return s.isOurWindow && s.isTopFrame && s.url !== null && isAppUrl(s.url);
}

/** Only the microphone (and speaker selection) for our own pages; nothing else, ever. */
export function allowPermission(
  permission: string,
  requestingUrl: string,
  mediaTypes: readonly string[] = [],
): boolean {
  if (!isAppUrl(requestingUrl)) return false;
  if (permission === 'media') return mediaTypes.every((t) => t === 'audio');
  return permission === 'speaker-selection';
}
