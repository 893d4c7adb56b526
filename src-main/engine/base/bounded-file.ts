// Reads a file someone named (a flag, a setting, a file in the data directory) without trusting
// what is there: only a regular file, opened without blocking (a FIFO would hang the open, a
// device like /dev/zero would never end), and no more than a limit checked before a byte is
// read. Every refusal is a FileInputError with a one-line message that names the path.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

export type FileInputErrorKind = 'missing' | 'not-a-file' | 'too-large' | 'unreadable';

export class FileInputError extends Error {
  constructor(
    readonly kind: FileInputErrorKind,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'FileInputError';
  }
}

// O_NONBLOCK and O_NOCTTY do not exist on Windows (nor do FIFOs in the file system).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** "1.9 GB", "64 MB", "512 bytes": sizes for messages. */
export function describeBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} kB`;
  return `${n} bytes`;
}

/**
 * Open `path` for reading if it is a regular file of at most `maxBytes`; the caller reads from
 * and closes the returned descriptor. Throws FileInputError.
 */
export function openBoundedFile(path: string, maxBytes: number): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileInputError('missing', path, `${path} does not exist`);
    if (code === 'EISDIR') throw new FileInputError('not-a-file', path, `${path} is a directory`);
    throw new FileInputError('unreadable', path, `cannot open ${path}: ${code ?? String(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const what = st.isDirectory()
        ? 'a directory'
        : st.isFIFO()
          ? 'a pipe (FIFO)'
          : st.isCharacterDevice() || st.isBlockDevice()
            ? 'a device'
            : st.isSocket()
              ? 'a socket'
              : 'not a regular file';
      throw new FileInputError('not-a-file', path, `${path} is ${what}, not a regular file`);
    }
    if (st.size > maxBytes) {
      throw new FileInputError(
        'too-large',
        path,
        `${path} is ${describeBytes(st.size)}, more than the ${describeBytes(maxBytes)} allowed`,
      );
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The whole content of a regular file of at most `maxBytes`. Throws FileInputError. */
export function readBoundedFile(path: string, maxBytes: number): Buffer {
  const { fd, size } = openBoundedFile(path, maxBytes);
  try {
    // Read what fstat promised and no more: a file that grows meanwhile is cut at its old size.
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      let n: number;
      try {
        n = readSync(fd, buf, got, size - got, got);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new FileInputError('unreadable', path, `cannot read ${path}: ${code ?? String(e)}`);
      }
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
