// The one logging seam: the engine, the relay and the app are handed a Logger and never pick a
// sink, a level or an environment variable themselves. Hosts pass pino (which fits this shape
// as it is: fields first, then the message); tests and quiet embedders pass `silentLogger`.
export type LogFields = Record<string, unknown>;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogFn {
  (fields: LogFields, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every line (e.g. `{ svc: 'quic' }`). */
  child(bindings: LogFields): Logger;
  /** Lets a caller skip building a costly line nobody will see. */
  isLevelEnabled(level: LogLevel): boolean;
}

const nothing = (): void => {};

export const silentLogger: Logger = {
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};

/** The message and fields of an error, for a log line (no stack unless asked for). */
export function errorFields(e: unknown, withStack = false): LogFields {
  if (!(e instanceof Error)) return { err: String(e) };
  return withStack && e.stack ? { err: e.message, stack: e.stack } : { err: e.message };
}
