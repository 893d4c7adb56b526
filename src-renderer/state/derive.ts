// Pure helpers the screens use: contact search, which screen a snapshot calls for, keyboard
// shortcuts, and the human forms of durations and call quality. No DOM, so unit-testable.
import type { CallView, ContactView, Snapshot } from '../../src-shared/ipc-contract.ts';

export type Screen = 'connecting' | 'first-run' | 'incoming' | 'outgoing' | 'in-call' | 'main';

export function screenFor(s: Snapshot | null): Screen {
  if (!s) return 'connecting';
  if (!s.identity || !s.settings.relay) return 'first-run';
  const c = s.call;
  if (c) {
    if (c.state === 'connected') return 'in-call';
    if (c.direction === 'incoming' && c.state === 'ringing') return 'incoming';
    if (c.direction === 'outgoing' && c.state !== 'ended') return 'outgoing';
  }
  return 'main';
}

export function searchContacts(list: readonly ContactView[], query: string): ContactView[] {
  const q = query.trim().toLowerCase();
  const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name));
  if (q.length === 0) return sorted;
  const compact = q.replace(/[\s-]+/g, '');
  return sorted.filter(
    (c) =>
      c.name.toLowerCase().includes(q) || (compact.length >= 3 && c.fingerprint.includes(compact)),
  );
}

export type ShortcutAction = 'answer' | 'decline' | 'hang-up' | 'toggle-mute';

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

/**
 * Ctrl/Cmd+Shift+A answer, Ctrl/Cmd+Shift+D decline, Ctrl/Cmd+Shift+H hang up, Ctrl/Cmd+Shift+M
 * mute. The modifiers keep them from firing while someone types a name.
 */
export function shortcutFor(e: KeyLike, call: CallView | null): ShortcutAction | null {
  if (!call || !(e.ctrlKey || e.metaKey) || !e.shiftKey || e.altKey) return null;
  const k = e.key.toLowerCase();
  const ringingIn = call.direction === 'incoming' && call.state === 'ringing';
  if (k === 'a' && ringingIn) return 'answer';
  if (k === 'd' && ringingIn) return 'decline';
  if (k === 'h' && !ringingIn && call.state !== 'ended') return 'hang-up';
  if (k === 'm' && call.state === 'connected') return 'toggle-mute';
  return null;
}

export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export function formatWhen(ts: number, now: number): string {
  const d = Math.max(0, now - ts) / 1000;
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86_400) return `${Math.floor(d / 3600)} h ago`;
  return new Date(ts).toLocaleDateString();
}

export type QualityLevel = 'good' | 'fair' | 'poor' | 'unknown';

export function qualityOf(stats: CallView['stats']): QualityLevel {
  if (!stats) return 'unknown';
  const rtt = stats.rttMs ?? 0;
  if (stats.lossPct >= 10 || rtt >= 400) return 'poor';
  if (stats.lossPct >= 3 || rtt >= 200) return 'fair';
  return 'good';
}

export function qualityTitle(stats: CallView['stats']): string {
  if (!stats) return 'No measurements yet';
  const rtt = stats.rttMs === null ? 'n/a' : `${Math.round(stats.rttMs)} ms`;
  const jit = stats.jitterMs === null ? 'n/a' : `${Math.round(stats.jitterMs)} ms`;
  return `RTT ${rtt}, loss ${stats.lossPct.toFixed(1)} %, jitter ${jit}, ${Math.round(stats.bitrateKbps)} kbit/s`;
}
