// The sound devices during a call: the list (kept fresh on `devicechange`), which of them the
// call uses, and hot-plug. The person's choice (settings) is kept; while that device is absent
// (a headset unplugged) the call uses the system default and says so, and goes back to it when
// it returns; a device that appears mid-call is offered in a notice.
import { useEffect, useRef, useState } from 'react';
import { listAudioDevices, type AudioDevices } from '../audio/call-audio.ts';
import { useAppStore } from './store-context.ts';

export interface CallDevices {
  devices: AudioDevices;
  /** The devices the call should use now (null: the system default). */
  input: string | null;
  output: string | null;
}

export function useCallDevices(
  active: boolean,
  preferredInput: string | null,
  preferredOutput: string | null,
): CallDevices {
  const store = useAppStore();
  const [devices, setDevices] = useState<AudioDevices | null>(null);
  const known = useRef<Set<string> | null>(null);
  useEffect(() => {
    if (!active) {
      known.current = null;
      return;
    }
    let live = true;
    const refresh = () =>
      void listAudioDevices()
        .then((d) => {
          if (!live) return;
          const ids = new Set([...d.inputs, ...d.outputs].map((x) => x.id));
          const before = known.current;
          if (before) {
            for (const x of [...d.inputs, ...d.outputs]) {
              if (!before.has(x.id)) notify(`New ${kind(d, x.id)}: ${x.label}. Choose it below.`);
            }
          }
          known.current = ids;
          setDevices(d);
        })
        .catch(() => {});
    const notify = (message: string) =>
      store.setState((s) => ({
        notices: [
          ...s.notices,
          { level: 'info' as const, message, id: Date.now() + Math.random() },
        ],
      }));
    refresh();
    navigator.mediaDevices?.addEventListener?.('devicechange', refresh);
    return () => {
      live = false;
      navigator.mediaDevices?.removeEventListener?.('devicechange', refresh);
    };
  }, [active, store]);

  const present = (id: string | null, list: AudioDevices['inputs'] | undefined) =>
    id !== null && (list === undefined || list.some((d) => d.id === id)) ? id : null;
  const input = present(preferredInput, devices?.inputs);
  const output = present(preferredOutput, devices?.outputs);

  // Say once when the chosen device went away (and the call moved to the default).
  const missing = useRef({ input: false, output: false });
  useEffect(() => {
    if (!active) return;
    for (const [which, pref, now, label] of [
      ['input', preferredInput, input, 'microphone'],
      ['output', preferredOutput, output, 'speaker'],
    ] as const) {
      const gone = pref !== null && now === null;
      if (gone && !missing.current[which]) {
        store.setState((s) => ({
          notices: [
            ...s.notices,
            {
              level: 'warning' as const,
              message: `The ${label} you chose was disconnected: the call uses the system default until it is back.`,
              id: Date.now() + Math.random(),
            },
          ],
        }));
      }
      missing.current[which] = gone;
    }
  }, [active, preferredInput, preferredOutput, input, output, store]);

  return { devices: devices ?? { inputs: [], outputs: [] }, input, output };
}

function kind(d: AudioDevices, id: string): string {
  return d.inputs.some((x) => x.id === id) ? 'microphone' : 'speaker';
}
