// Which router to ask for a port mapping: the IPv4 default gateway of this machine, found the
// way each desktop platform documents it, without privileges. Linux: /proc/net/route (the routing
// table of the process's own network namespace; no process spawned). macOS: `route -n get
// default`. Windows: `route print -4 0.0.0.0` (route.exe ships with every Windows; wmic, which
// the `default-gateway` package relies on there, is gone from current Windows 11). The parsers
// are pure and tested on captured output; the lookup never throws and gives up after a second.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** /proc/net/route: the lowest-metric default route through a gateway, or null. */
export function parseLinuxProcNetRoute(text: string): string | null {
  let best: { gw: string; metric: number } | null = null;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [, dest, gwHex, flagsHex, , , metricText, mask] = f;
    if (dest !== '00000000' || mask !== '00000000') continue;
    const flags = Number.parseInt(flagsHex ?? '', 16);
    if (!Number.isFinite(flags) || (flags & RTF_UP) === 0 || (flags & RTF_GATEWAY) === 0) continue;
    if (!/^[0-9A-Fa-f]{8}$/.test(gwHex ?? '')) continue;
    // Host byte order on the machines we run on (little-endian): the first octet is last.
    const n = Number.parseInt(gwHex as string, 16);
    const gw = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
    if (gw === '0.0.0.0') continue;
    const metric = Number(metricText);
    if (best === null || metric < best.metric) best = { gw, metric };
  }
  return best?.gw ?? null;
}

/** `route -n get default` on macOS/BSD: the "gateway:" line, when it is an address. */
export function parseBsdRouteGet(text: string): string | null {
  const m = /^\s*gateway:\s*(\S+)\s*$/m.exec(text);
  const gw = m?.[1];
  return gw !== undefined && isIP(gw) === 4 ? gw : null;
}

/** `route print -4 0.0.0.0` on Windows: the lowest-metric 0.0.0.0/0 row of Active Routes. */
export function parseWindowsRoutePrint(text: string): string | null {
  let best: { gw: string; metric: number } | null = null;
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[0] !== '0.0.0.0' || f[1] !== '0.0.0.0') continue;
    const gw = f[2] ?? '';
    const metric = Number(f[4]);
    if (isIP(gw) !== 4 || !Number.isFinite(metric)) continue; // "On-link" rows have no gateway
    if (best === null || metric < best.metric) best = { gw, metric };
  }
  return best?.gw ?? null;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, windowsHide: true }, (err, stdout) =>
      resolve(err ? '' : String(stdout)),
    );
  });
}

/** The IPv4 default gateway, or null when there is none or it cannot be read. */
export async function findDefaultGateway(
  platform: NodeJS.Platform = process.platform,
  timeoutMs = 1000,
): Promise<string | null> {
  try {
    switch (platform) {
      case 'linux':
      case 'android':
        return parseLinuxProcNetRoute(await readFile('/proc/net/route', 'utf8'));
      case 'darwin':
      case 'freebsd':
      case 'openbsd':
        return parseBsdRouteGet(await run('route', ['-n', 'get', 'default'], timeoutMs));
      case 'win32':
        return parseWindowsRoutePrint(await run('route', ['print', '-4', '0.0.0.0'], timeoutMs));
      default:
        return null;
    }
  } catch {
    return null;
  }
}
