// Small JSON documents in the data directory: written atomically (temp file, fsync, rename) so a
// crash never leaves half a file, and validated with a schema on load so a damaged or
// hand-edited file is set aside and reported instead of half-trusted.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { FileInputError, readBoundedFile } from '../engine/base/bounded-file.ts';

export type LoadResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'missing' }
  | { kind: 'corrupt'; reason: string; movedTo: string | null };

const MAX_BYTES = 16 * 1024 * 1024;

export function loadJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  now: () => number = Date.now,
): LoadResult<z.output<S>> {
  let raw = '';
  let reason: string | null = null;
  try {
    // Checked before reading: a FIFO, a device or a huge file is set aside, not read.
    raw = readBoundedFile(path, MAX_BYTES).toString('utf8');
  } catch (e) {
    if (!(e instanceof FileInputError)) throw e;
    if (e.kind === 'missing') return { kind: 'missing' };
    if (e.kind === 'unreadable') return { kind: 'corrupt', reason: e.message, movedTo: null };
    reason = e.kind === 'too-large' ? 'too large' : 'not a regular file';
  }
  let value: z.output<S> | undefined;
  if (reason === null) {
    try {
      const parsed = schema.safeParse(JSON.parse(raw));
      if (parsed.success) value = parsed.data;
      else reason = `does not match its schema (${parsed.error.issues[0]?.message ?? 'invalid'})`;
    } catch {
      reason = 'not valid JSON';
    }
  }
  if (value !== undefined && reason === null) return { kind: 'ok', value };
  // Keep the damaged file for the user to inspect; the app starts from an empty document.
  const movedTo = `${path}.corrupt-${now()}`;
  try {
    renameSync(path, movedTo);
    return { kind: 'corrupt', reason: reason ?? 'invalid', movedTo };
  } catch {
    return { kind: 'corrupt', reason: reason ?? 'invalid', movedTo: null };
  }
}

let tmpCounter = 0;

export function writeJsonFileAtomic(path: string, value: unknown, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
