// What the tray shows and does, without electron: the presence icon and tooltip, the menu, the
// incoming-call notification with Answer/Decline, window flashing, close-to-tray and Quit. The
// shell implements TrayPort with Tray, Menu, Notification and BrowserWindow; tests use a fake.
import type {
  CommandArgs,
  CommandName,
  IpcResult,
  Snapshot,
} from '../../src-shared/ipc-contract.ts';

export type PresenceState = 'offline' | 'online' | 'ringing' | 'in-call';

export type TrayMenuItem =
  | { kind: 'item'; id: string; label: string; enabled: boolean; click: () => void }
  | { kind: 'separator' };

export interface NotificationHandle {
  close(): void;
}

export interface TrayPort {
  setIcon(state: PresenceState): void;
  setTooltip(text: string): void;
  setMenu(items: TrayMenuItem[]): void;
  notifyIncoming(
    n: { title: string; body: string },
    on: { answer(): void; decline(): void; click(): void },
  ): NotificationHandle;
  flashWindow(on: boolean): void;
  /** Missed calls not yet seen (0 clears it): the dock/launcher badge where there is one. */
  setBadge(count: number): void;
  showWindow(): void;
  hideWindow(): void;
  quit(): void;
}

export interface TrayCommands {
  invoke<C extends CommandName>(cmd: C, args: CommandArgs<C>): Promise<IpcResult<C>>;
}

export function presenceOf(s: Snapshot | null): PresenceState {
  const c = s?.call;
  if (c && c.direction === 'incoming' && c.state === 'ringing') return 'ringing';
  if (c && c.state !== 'ended') return 'in-call';
  return s?.relay.state === 'registered' ? 'online' : 'offline';
}

const TOOLTIP: Record<PresenceState, string> = {
  offline: 'wz-phone: offline',
  online: 'wz-phone: online',
  ringing: 'wz-phone: incoming call',
  'in-call': 'wz-phone: in a call',
};

export class TrayController {
  #snapshot: Snapshot | null = null;
  #state: PresenceState | null = null;
  #notifiedCallId: string | null = null;
  #notification: NotificationHandle | null = null;
  #quitting = false;
  /** Missed calls after this time (epoch ms) count until the window is looked at. */
  #seenAt = Date.now();
  #missed = 0;

  constructor(
    private readonly port: TrayPort,
    private readonly commands: TrayCommands,
  ) {}

  get presence(): PresenceState {
    return presenceOf(this.#snapshot);
  }

  get quitting(): boolean {
    return this.#quitting;
  }

  /** Missed calls since the window was last looked at. */
  get missed(): number {
    return this.#missed;
  }

  /** The window was shown or focused: its History shows the missed calls now. */
  onWindowSeen(now = Date.now()): void {
    this.#seenAt = now;
    if (this.#snapshot) this.update(this.#snapshot);
  }

  update(s: Snapshot): void {
    this.#snapshot = s;
    const state = presenceOf(s);
    const missed = s.history.filter(
      (h) => h.outcome === 'missed' && h.startedAt > this.#seenAt,
    ).length;
    if (state !== this.#state || missed !== this.#missed) {
      this.#state = state;
      this.port.setIcon(state);
      this.port.setTooltip(
        TOOLTIP[state] + (missed > 0 ? ` · ${missed} missed call${missed === 1 ? '' : 's'}` : ''),
      );
    }
    if (missed !== this.#missed) {
      this.#missed = missed;
      this.port.setBadge(missed);
    }
    const call = s.call;
    if (state === 'ringing' && call && this.#notifiedCallId !== call.id) {
      this.#notifiedCallId = call.id;
      const who = call.name ?? 'Unknown caller';
      this.#notification?.close();
      this.#notification = this.port.notifyIncoming(
        { title: `Incoming call from ${who}`, body: call.name ? 'wz-phone' : call.peer },
        {
          answer: () => this.#answer(),
          decline: () => this.#decline(),
          click: () => this.port.showWindow(),
        },
      );
      this.port.flashWindow(true);
    } else if (state !== 'ringing' && this.#notifiedCallId !== null) {
      this.#notifiedCallId = null;
      this.#notification?.close();
      this.#notification = null;
      this.port.flashWindow(false);
    }
    this.port.setMenu(this.#menu(s, state));
  }

  /** The window's close button: hide to the tray unless quitting or the user turned it off. */
  onWindowCloseRequested(): 'hide' | 'close' {
    if (this.#quitting) return 'close';
    if (this.#snapshot?.settings.closeToTray ?? true) {
      this.port.hideWindow();
      return 'hide';
    }
    return 'close';
  }

  requestQuit(): void {
    this.#quitting = true;
    this.#notification?.close();
    this.port.quit();
  }

  #answer(): void {
    const call = this.#snapshot?.call;
    if (!call) return;
    this.port.showWindow();
    void this.commands.invoke('answerCall', { callId: call.id });
  }

  #decline(): void {
    const call = this.#snapshot?.call;
    if (!call) return;
    void this.commands.invoke('declineCall', { callId: call.id });
  }

  #menu(s: Snapshot, state: PresenceState): TrayMenuItem[] {
    const items: TrayMenuItem[] = [
      {
        kind: 'item',
        id: 'status',
        label: TOOLTIP[state].replace('wz-phone: ', 'Status: '),
        enabled: false,
        click: () => {},
      },
      {
        kind: 'item',
        id: 'show',
        label: 'Show wz-phone',
        enabled: true,
        click: () => this.port.showWindow(),
      },
    ];
    if (this.#missed > 0) {
      items.push({
        kind: 'item',
        id: 'missed',
        label: `${this.#missed} missed call${this.#missed === 1 ? '' : 's'}`,
        enabled: true,
        click: () => this.port.showWindow(),
      });
    }
    const call = s.call;
    if (call && state === 'ringing') {
      items.push(
        {
          kind: 'item',
          id: 'answer',
          label: `Answer ${call.name ?? 'call'}`,
          enabled: true,
          click: () => this.#answer(),
        },
        {
          kind: 'item',
          id: 'decline',
          label: 'Decline',
          enabled: true,
          click: () => this.#decline(),
        },
      );
    } else if (call && state === 'in-call') {
      items.push(
        {
          kind: 'item',
          id: 'mute',
          label: call.muted ? 'Unmute' : 'Mute',
          enabled: call.state === 'connected',
          click: () =>
            void this.commands.invoke('setMuted', { callId: call.id, muted: !call.muted }),
        },
        {
          kind: 'item',
          id: 'hangup',
          label: 'Hang up',
          enabled: true,
          click: () => void this.commands.invoke('hangUp', { callId: call.id }),
        },
      );
    }
    items.push(
      { kind: 'separator' },
      { kind: 'item', id: 'quit', label: 'Quit', enabled: true, click: () => this.requestQuit() },
    );
    return items;
  }
}
