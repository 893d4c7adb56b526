// The main window's size and place, kept between runs (window-state.json in the app's data
// directory). Pure and without electron: the shell passes the displays' work areas, and a saved
// place that no longer fits any display (a monitor unplugged, the resolution changed) is moved
// onto the nearest one, shrunk to fit, or dropped for the default.
import { z } from 'zod';
import { loadJsonFile, writeJsonFileAtomic } from '../app/json-file.ts';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState extends Rect {
  maximized: boolean;
}

const Int = z.number().int().min(-100_000).max(100_000);
const WindowStateSchema = z.strictObject({
  version: z.literal(1),
  window: z.strictObject({
    x: Int,
    y: Int,
    width: z.number().int().min(1).max(100_000),
    height: z.number().int().min(1).max(100_000),
    maximized: z.boolean(),
  }),
});

export const DEFAULT_SIZE = { width: 960, height: 720 };
export const MIN_SIZE = { width: 420, height: 480 };

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Where to open the window: the saved place when it fits a display, moved and shrunk onto the
 * display it overlaps most (or the first) when it does not; null for no saved place.
 */
export function placeWindow(
  saved: WindowState | null,
  workAreas: readonly Rect[],
): WindowState | null {
  if (!saved || workAreas.length === 0) return null;
  const area =
    [...workAreas].sort((a, b) => overlap(saved, b) - overlap(saved, a))[0] ??
    (workAreas[0] as Rect);
  const width = Math.max(MIN_SIZE.width, Math.min(saved.width, area.width));
  const height = Math.max(MIN_SIZE.height, Math.min(saved.height, area.height));
  // Entirely off every screen: keep the size, centre it on that display.
  const visible = overlap(saved, area) > 0;
  const x = visible
    ? Math.min(Math.max(saved.x, area.x), area.x + area.width - width)
    : area.x + Math.round((area.width - width) / 2);
  const y = visible
    ? Math.min(Math.max(saved.y, area.y), area.y + area.height - height)
    : area.y + Math.round((area.height - height) / 2);
  return { x, y, width, height, maximized: saved.maximized };
}

export function loadWindowState(path: string): WindowState | null {
  const r = loadJsonFile(path, WindowStateSchema, () => Date.now());
  return r.kind === 'ok' ? r.value.window : null;
}

export function saveWindowState(path: string, state: WindowState): void {
  const clean = {
    x: Math.round(state.x),
    y: Math.round(state.y),
    width: Math.round(state.width),
    height: Math.round(state.height),
    maximized: state.maximized,
  };
  writeJsonFileAtomic(path, { version: 1, window: clean });
}
