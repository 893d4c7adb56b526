// The Electron window's saved size and place: kept when it fits a display, pulled back onto the
// display it overlaps when it hangs off the edge, centred when its display is gone, shrunk to a
// smaller screen but never below the minimum; a damaged file means the default.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  MIN_SIZE,
  loadWindowState,
  placeWindow,
  saveWindowState,
} from '../../src-main/electron/window-state.ts';

const dir = mkdtempSync(join(tmpdir(), 'wzp-window-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const laptop = { x: 0, y: 0, width: 1440, height: 900 };
const monitor = { x: 1440, y: 0, width: 2560, height: 1440 };

test('a place that fits is kept; off the edge is pulled back; a lost display centres it', () => {
  const w = { x: 100, y: 80, width: 900, height: 700, maximized: false };
  assert.deepEqual(placeWindow(w, [laptop, monitor]), w);
  assert.deepEqual(placeWindow({ ...w, x: 1000 }, [laptop]), { ...w, x: 540 });
  const onMonitor = { ...w, x: 2000, y: 300 };
  assert.deepEqual(placeWindow(onMonitor, [laptop, monitor]), onMonitor);
  assert.deepEqual(placeWindow(onMonitor, [laptop]), { ...w, x: 270, y: 100 });
  assert.deepEqual(placeWindow({ ...w, width: 3000, height: 2000, maximized: true }, [laptop]), {
    x: 0,
    y: 0,
    width: 1440,
    height: 900,
    maximized: true,
  });
  assert.equal(placeWindow(null, [laptop]), null);
  assert.equal(placeWindow(w, []), null);
});

test('whatever was saved, the window opens at least the minimum size and on a display', () => {
  fc.assert(
    fc.property(
      fc.record({
        x: fc.integer({ min: -5000, max: 9000 }),
        y: fc.integer({ min: -5000, max: 9000 }),
        width: fc.integer({ min: 1, max: 8000 }),
        height: fc.integer({ min: 1, max: 8000 }),
        maximized: fc.boolean(),
      }),
      (saved) => {
        const p = placeWindow(saved, [laptop, monitor]);
        assert.ok(p);
        assert.ok(p.width >= MIN_SIZE.width && p.height >= MIN_SIZE.height);
        const on = [laptop, monitor].some(
          (a) =>
            p.x >= a.x &&
            p.y >= a.y &&
            p.x + p.width <= a.x + a.width &&
            p.y + p.height <= a.y + a.height,
        );
        assert.ok(on, JSON.stringify({ saved, p }));
      },
    ),
  );
});

test('saved and loaded; a damaged file is the default', () => {
  const path = join(dir, 'window-state.json');
  saveWindowState(path, { x: 10.4, y: 20, width: 800, height: 600, maximized: true });
  assert.deepEqual(loadWindowState(path), {
    x: 10,
    y: 20,
    width: 800,
    height: 600,
    maximized: true,
  });
  writeFileSync(path, '{"version":1,"window":{"x":"left"}}');
  assert.equal(loadWindowState(path), null);
  assert.equal(loadWindowState(join(dir, 'missing.json')), null);
});
