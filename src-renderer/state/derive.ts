// Pure helpers the screens use: contact search, which screen a snapshot calls for, keyboard
// shortcuts, and the human forms of durations and call quality. No DOM, so unit-testable.
import type {
  CallView,
  ContactView,
  HistoryEntry,
  Snapshot,
} from '../../src-shared/ipc-contract.ts';

export type Screen = 'connecting' | 'first-run' | 'incoming' | 'outgoing' | 'in-call' | 'main';

/** `onboarding`: the person has not yet finished the first-run steps in this window. */
export function screenFor(s: Snapshot | null, onboarding = false): Screen {
  if (!s) return 'connecting';
  if (!s.identity || !s.settings.relay || onboarding) return 'first-run';
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

/** Figures older than this are not shown as current (the engine sends them every second). */
export const STATS_FRESH_MS = 2000;

/** `now` (epoch ms): figures measured more than 2 s before are 'unknown', never 'good'. */
export function qualityOf(stats: CallView['stats'], now?: number): QualityLevel {
  if (!stats) return 'unknown';
  if (
    now !== undefined &&
    stats.measuredAt !== undefined &&
    now - stats.measuredAt > STATS_FRESH_MS
  )
    return 'unknown';
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

/** Initials for an avatar: the first letters of the first two words, upper case. */
export function initialsOf(name: string | null): string {
  const words = (name ?? '')
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0);
  if (words.length === 0) return '?';
  const first = (w: string) => [...w][0]?.toLocaleUpperCase() ?? '';
  return words.length === 1
    ? first(words[0] as string)
    : first(words[0] as string) + first(words[1] as string);
}

/** Avatar colours (white text on each passes WCAG AA), picked by the fingerprint. */
export const AVATAR_COLOURS = [
  '#a23474',
  '#b3261e',
  '#a15a00',
  '#6b6b00',
  '#3b7d23',
  '#00736a',
  '#00698f',
  '#2c5cb5',
  '#5a4fcf',
  '#8239b8',
  '#6d5c4f',
  '#52606d',
] as const;

export function avatarColour(fingerprint: string): string {
  // FNV-1a over the text: stable across sessions, spread evenly over the palette.
  let h = 0x811c9dc5;
  for (let i = 0; i < fingerprint.length; i++) {
    h ^= fingerprint.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length] as string;
}

/** A call's outcome in plain words, as History shows it. */
export function outcomeLabel(h: Pick<HistoryEntry, 'outcome' | 'reason' | 'direction'>): string {
  switch (h.outcome) {
    case 'answered':
      if (h.reason === 'connection-lost') return 'Connection lost';
      return h.direction === 'incoming' ? 'Incoming call' : 'Outgoing call';
    case 'missed':
      return h.reason === 'busy' ? 'Missed (you were in a call)' : 'Missed';
    case 'declined':
      return 'Declined';
    case 'cancelled':
      return 'Cancelled';
    case 'failed':
      if (h.reason === 'busy') return 'Busy';
      if (h.reason === 'no-answer') return 'No answer';
      if (h.reason === 'offline') return 'Unavailable';
      if (h.reason === 'security') return 'Stopped: security check failed';
      if (h.reason === 'relay-lost' || h.reason === 'connection-lost') return 'Connection lost';
      return 'Call failed';
  }
}

/** What should keep sounding now: the ringtone for a call coming in, ringback while it rings. */
export function loopSoundFor(call: CallView | null): 'ringtone' | 'ringback' | null {
  if (!call) return null;
  if (call.direction === 'incoming' && call.state === 'ringing') return 'ringtone';
  if (call.direction === 'outgoing' && call.state === 'ringing') return 'ringback';
  return null;
}

/** The cue for a call that just ended (`entry`: its history entry, when there is one). */
export function endCueFor(
  ended: CallView,
  entry: HistoryEntry | undefined,
): 'busy' | 'hangup' | null {
  if (ended.connectedAt !== null) return 'hangup';
  if (ended.direction !== 'outgoing' || !entry) return null;
  if (entry.reason === 'busy' || entry.outcome === 'declined') return 'busy';
  if (entry.outcome === 'failed') return 'hangup';
  return null;
}

/** Missed calls since the person last looked at History. */
export function missedSince(history: readonly HistoryEntry[], seenAt: number): number {
  return history.filter((h) => h.outcome === 'missed' && h.startedAt > seenAt).length;
}
