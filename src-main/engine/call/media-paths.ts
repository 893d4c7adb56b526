// The media paths of one call and which one each packet takes: the transports by kind (at most
// one relay path and one direct path), the coordinated switch between them (PathSwitcher, a pure
// state machine whose signals and switches this carries out) and the path media is on now.
// Receiving is never switched: every attached path delivers to the call's receiver.
import type { CallSignal, MediaPath } from '../../../src-shared/call-signals.ts';
import type { MediaTransport } from './media-transport.ts';
import { PathSwitcher, type PathSwitchOutput, type PathSwitchSignal } from './path-switch.ts';

export interface MediaPathsOptions {
  /** The deterministic tie-break both sides compute the same way: the lower fingerprint wins. */
  localIsTieWinner: boolean;
  /** The sequence number our next media packet will carry (switches are agreed in frames). */
  nextSeq(): number;
  now(): number;
  /** Send a signal to the peer of this call. */
  signal(signal: CallSignal): void;
  /** Media is on `path` now: its first path (`first`), or a switch the two sides agreed. */
  onPath(path: MediaPath, reason: string, first: boolean): void;
}

export class MediaPaths {
  readonly #o: MediaPathsOptions;
  readonly #transports = new Map<MediaPath, MediaTransport>();
  readonly #switcher: PathSwitcher;
  #current: MediaPath | null = null;

  constructor(opts: MediaPathsOptions) {
    this.#o = opts;
    this.#switcher = new PathSwitcher({ localIsTieWinner: opts.localIsTieWinner });
  }

  /** The path our media is on (null before the first path is attached). */
  get current(): MediaPath | null {
    return this.#current;
  }

  /** Where our sending is or is going, by the last agreement (or fallback). */
  get agreedPath(): MediaPath {
    return this.#switcher.agreedPath;
  }

  get(kind: MediaPath): MediaTransport | undefined {
    return this.#transports.get(kind);
  }

  /** A path became available (relay grant, authenticated direct connection); replaces its kind. */
  attach(transport: MediaTransport, reason: string): void {
    this.#transports.get(transport.kind)?.close();
    this.#transports.set(transport.kind, transport);
    if (this.#current === null) {
      this.#current = transport.kind;
      this.#o.onPath(transport.kind, reason, true);
    }
  }

  /** Close and forget the path of this kind, without moving media (the caller falls back). */
  detach(kind: MediaPath, reason?: string): void {
    this.#transports.get(kind)?.close(reason);
    this.#transports.delete(kind);
  }

  /**
   * Send one packet of frame `seq` on the path the switch puts that frame on (the relay when that
   * path is not attached); with `alsoOnRelay`, a packet bound for the direct path goes over the
   * relay too (the direct path is suspect: the receiver de-duplicates).
   */
  send(packet: Uint8Array, seq: number, alsoOnRelay: boolean): void {
    const path = this.#switcher.sendPathFor(seq);
    const transport = this.#transports.get(path) ?? this.#transports.get('relay');
    transport?.send(packet);
    if (alsoOnRelay && path === 'direct') this.#transports.get('relay')?.send(packet);
  }

  /** One packet on every attached path (the peer is silent: try every way to reach it). */
  sendOnAll(packet: Uint8Array): void {
    for (const t of this.#transports.values()) t.send(packet);
  }

  /** The direct path is up and authenticated: we receive on it and may propose it. */
  directReady(): void {
    this.#switcher.directReady();
  }

  propose(path: MediaPath, reason: string): void {
    this.#apply(this.#switcher.propose(path, reason, this.#o.nextSeq(), this.#o.now()));
  }

  /** The direct path stopped carrying media: our sending moves to the relay now. */
  fallback(reason: string): void {
    this.#apply(this.#switcher.fallback(reason, this.#o.nextSeq(), this.#o.now()));
  }

  /** Resends of unanswered proposals; call every hundred ms or so. */
  tick(): void {
    this.#apply(this.#switcher.tick(this.#o.nextSeq(), this.#o.now()));
  }

  onSwitchSignal(signal: PathSwitchSignal): void {
    this.#apply(this.#switcher.onSignal(signal, this.#o.nextSeq(), this.#o.now()));
  }

  /** Close every path; `reason` is what each tells the peer where it can (see MediaTransport). */
  close(reason?: string): void {
    for (const t of this.#transports.values()) t.close(reason);
    this.#transports.clear();
  }

  #apply(outputs: PathSwitchOutput[]): void {
    for (const o of outputs) {
      if (o.type === 'send') this.#o.signal(o.signal);
      else if (o.type === 'switch') {
        this.#current = o.path;
        this.#o.onPath(o.path, `${o.reason} (from frame ${o.atSeq})`, false);
      }
    }
  }
}
