// What both desktop hosts serve the built renderer with: the one Content-Security-Policy (the
// hosts differ only in where the page may connect: nowhere in Electron, where IPC is the
// preload's, and its own origin on the web host, whose IPC is a WebSocket) and the one mapping
// of a request path to a file, which never leaves the renderer directory.
import { join, normalize, sep } from 'node:path';

const CSP_COMMON = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
];
const CSP_CLOSING = ["base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"];

/** The renderer's CSP on each host. */
export function rendererCsp(host: 'electron' | 'web'): string {
  const own =
    host === 'electron'
      ? ["connect-src 'none'", "worker-src 'self'"]
      : ["connect-src 'self'", "worker-src 'self'", "manifest-src 'self'"];
  const tail = host === 'electron' ? [...CSP_CLOSING, "object-src 'none'"] : CSP_CLOSING;
  return [...CSP_COMMON, ...own, ...tail].join('; ');
}

/**
 * The file under `rendererDir` that the URL path `pathname` (still percent-encoded) names, with
 * `/` as index.html; null for anything that would leave the directory or cannot be decoded.
 */
export function resolveRendererFile(pathname: string, rendererDir: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path === '/' || path === '') path = '/index.html';
  const root = normalize(rendererDir);
  const file = normalize(join(root, path));
  return file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : null;
}
