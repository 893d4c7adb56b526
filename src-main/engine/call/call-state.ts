// The call's state machine as a pure function: which events are allowed in which state, and
// how each ends a call. The Call class feeds it every local action and remote signal; anything it
// rejects is ignored (a late or duplicated signal must never resurrect or corrupt a call).
import type { HangupReason } from '../../../src-shared/call-signals.ts';
import type { CallEndReason, CallState } from './softphone-api.ts';

export type CallPhase = CallState;

export type CallEvent =
  | { type: 'remote-ringing' }
  | { type: 'local-answer' }
  | { type: 'remote-accept' }
  | { type: 'local-decline' }
  | { type: 'remote-reject'; reason: 'declined' | 'busy' | 'unavailable' }
  | { type: 'local-hangup'; reason: HangupReason }
  | { type: 'remote-hangup'; reason: HangupReason }
  | { type: 'no-answer' }
  | { type: 'offline' }
  | { type: 'relay-lost' }
  | { type: 'connection-lost'; silentMs: number }
  | { type: 'security'; detail: string }
  | { type: 'error'; detail: string };

export type Transition = { state: CallPhase; end?: CallEndReason; detail?: string };

/** Returns the next state, or null when the event does not apply in this state. */
export function nextCallState(state: CallPhase, event: CallEvent): Transition | null {
  if (state === 'ended') return null;
  switch (event.type) {
    case 'remote-ringing':
      return state === 'calling' ? { state: 'ringing' } : null;
    case 'local-answer':
    case 'remote-accept':
      return state === 'ringing' || state === 'calling' ? { state: 'connected' } : null;
    case 'local-decline':
      return state === 'ringing' ? { state: 'ended', end: 'declined' } : null;
    case 'remote-reject':
      if (state === 'connected') return null;
      return {
        state: 'ended',
        end:
          event.reason === 'busy' ? 'busy' : event.reason === 'declined' ? 'declined' : 'offline',
      };
    case 'local-hangup':
      return {
        state: 'ended',
        end:
          state === 'connected'
            ? 'hangup-local'
            : event.reason === 'no-answer'
              ? 'no-answer'
              : 'cancelled',
      };
    case 'remote-hangup':
      return { state: 'ended', end: remoteHangupEnd(state, event.reason) };
    case 'no-answer':
      return state === 'connected' ? null : { state: 'ended', end: 'no-answer' };
    case 'offline':
      return state === 'connected' ? null : { state: 'ended', end: 'offline' };
    case 'relay-lost':
      return { state: 'ended', end: 'relay-lost' };
    case 'connection-lost':
      return state === 'connected'
        ? {
            state: 'ended',
            end: 'connection-lost',
            detail: `nothing from the peer for ${Math.round(event.silentMs / 1000)} s`,
          }
        : null;
    case 'security':
      return { state: 'ended', end: 'security', detail: event.detail };
    case 'error':
      return { state: 'ended', end: 'error', detail: event.detail };
  }
}

function remoteHangupEnd(state: CallPhase, reason: HangupReason): CallEndReason {
  switch (reason) {
    case 'remote-gone':
      return 'remote-gone';
    case 'no-answer':
      return 'no-answer';
    case 'security':
      return 'security';
    case 'error':
      return 'error';
    case 'cancelled':
      return 'cancelled';
    case 'normal':
      return state === 'connected' ? 'hangup-remote' : 'cancelled';
  }
}
