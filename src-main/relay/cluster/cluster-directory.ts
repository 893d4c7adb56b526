// The cluster's registrations as this relay knows them, and the peers it hears: pure logic, no
// I/O, clocks injected. Every relay keeps the whole directory (identity -> the relay instance
// holding its live registration, with the registration's epoch), fed by the other relays' updates
// and snapshots on NATS, so that "is X online" and "where is X" are answered locally and at once.
//
// Soft state: an entry lives only while the relay instance that holds it is heard. Each relay
// sends a heartbeat every second; one silent for `peerTimeoutMs` is gone, and so are its entries
// (a crash, a network split, or a NATS outage on either side). Heartbeats rather than JetStream
// KV TTLs: nats-server 2.9 (Debian's) has only a bucket-wide max age, which expires entries
// silently (no watcher sees it) and would need every registration rewritten within the TTL,
// whereas a heartbeat per relay costs one message per second per relay.
//
// One live registration per identity: registrations are ordered by epoch, a hybrid logical clock
// (max(wall clock, the newest epoch known for that identity + 1), so a newer registration always
// outranks every one it knew of, whatever the machines' clocks say), then by relay name and
// instance, so that racing ones on two relays are ordered the same way by everyone. Each relay
// keeps every live claim on an identity, not only the top one, and the holder is the top claim:
// a claim whose relay learns it is outranked is evicted (the relay tells its client why, closes
// it, and withdraws the claim), so once the messages are in, every relay has the same claims and
// at most one is left (a property test drives random interleavings through three directories).
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import {
  SNAPSHOT_CHUNK,
  type DirectoryUpdate,
  type Heartbeat,
  type Snapshot,
} from './cluster-protocol.ts';

export interface DirectoryEntry {
  relay: string;
  instance: string;
  epoch: number;
}

export interface PeerInfo {
  relay: string;
  instance: string;
  /** Empty until the peer's first heartbeat says where its media plane is. */
  media: string;
  registered: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

export type PeerDownReason = 'timeout' | 'left';

export type DirectoryChange =
  | { kind: 'online'; fp: Fingerprint; relay: string }
  | { kind: 'offline'; fp: Fingerprint; relay: string }
  | { kind: 'moved'; fp: Fingerprint; from: string; to: string }
  /** A local registration was outranked by a newer one on `by`: close the local session. */
  | { kind: 'evicted'; fp: Fingerprint; by: string }
  | { kind: 'peer-up'; peer: PeerInfo }
  | { kind: 'peer-down'; relay: string; instance: string; why: PeerDownReason; entries: number };

export interface ClusterDirectoryOptions {
  relay: string;
  instance: string;
  /** A peer not heard for this long is gone, with its registrations. */
  peerTimeoutMs: number;
  /** Monotonic milliseconds (peer liveness). */
  now: () => number;
  /** Wall-clock milliseconds (registration epochs are compared across machines). */
  wallNow: () => number;
}

/** True when registration `a` outranks `b`. */
export function outranks(a: DirectoryEntry, b: DirectoryEntry): boolean {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch;
  if (a.relay !== b.relay) return a.relay > b.relay;
  return a.instance > b.instance;
}

interface SnapshotProgress {
  gen: number;
  parts: Set<number>;
  fps: Set<Fingerprint>;
}

type Claims = Map<string, DirectoryEntry>;

function top(claims: Claims | undefined): DirectoryEntry | undefined {
  let best: DirectoryEntry | undefined;
  for (const c of claims?.values() ?? []) if (!best || outranks(c, best)) best = c;
  return best;
}

export class ClusterDirectory {
  readonly #o: ClusterDirectoryOptions;
  /** Per identity, the live claims on it by relay instance; the top one holds it. */
  readonly #claims = new Map<Fingerprint, Claims>();
  /** The newest epoch of a claim since withdrawn, while it is ahead of our wall clock. */
  readonly #tombstones = new Map<Fingerprint, number>();
  /** By instance: two lives of one relay name are two peers until the old one times out. */
  readonly #peers = new Map<string, PeerInfo>();
  readonly #snapshots = new Map<string, SnapshotProgress>();
  readonly #relaysSeen = new Set<string>();
  #local = 0;
  #snapshotGen = 0;

  constructor(opts: ClusterDirectoryOptions) {
    this.#o = opts;
  }

  /** Identities online cluster-wide. */
  get size(): number {
    return this.#claims.size;
  }

  get localCount(): number {
    return this.#local;
  }

  /** Distinct relay names heard since start. */
  get relaysSeen(): number {
    return this.#relaysSeen.size;
  }

  holder(fp: Fingerprint): (DirectoryEntry & { local: boolean }) | undefined {
    const e = top(this.#claims.get(fp));
    return e ? { ...e, local: e.instance === this.#o.instance } : undefined;
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => ({ ...p }));
  }

  /** A client registered here: returns the update to publish and what changed. */
  registerLocal(fp: Fingerprint): { update: DirectoryUpdate; changes: DirectoryChange[] } {
    let known = this.#tombstones.get(fp) ?? -1;
    for (const c of this.#claims.get(fp)?.values() ?? []) known = Math.max(known, c.epoch);
    const epoch = Math.max(Math.floor(this.#o.wallNow()), known + 1);
    const entry = { relay: this.#o.relay, instance: this.#o.instance, epoch };
    const changes = this.#mutate(fp, (claims) => {
      if (!claims.has(entry.instance)) this.#local++;
      claims.set(entry.instance, entry);
    });
    return { update: { ...entry, fp, online: true }, changes };
  }

  /** The local registration with `epoch` ended; nothing happens if it was withdrawn since. */
  unregisterLocal(
    fp: Fingerprint,
    epoch: number,
  ): { update: DirectoryUpdate | null; changes: DirectoryChange[] } {
    const mine = this.#claims.get(fp)?.get(this.#o.instance);
    if (!mine || mine.epoch !== epoch) return { update: null, changes: [] };
    const changes = this.#mutate(fp, (claims) => this.#withdraw(fp, claims, mine));
    return { update: { ...mine, fp, online: false }, changes };
  }

  /**
   * A peer's update. Evictions it causes come back as `evicted` changes carrying the update that
   * withdraws our claim: publish it, so the others drop our claim too.
   */
  apply(u: DirectoryUpdate): { changes: DirectoryChange[]; withdrawals: DirectoryUpdate[] } {
    if (u.instance === this.#o.instance) return { changes: [], withdrawals: [] };
    const changes = this.#touch(u.relay, u.instance, null);
    const withdrawals: DirectoryUpdate[] = [];
    const entry: DirectoryEntry = { relay: u.relay, instance: u.instance, epoch: u.epoch };
    changes.push(
      ...this.#mutate(u.fp, (claims) => {
        const had = claims.get(u.instance);
        if (!u.online) {
          if (had && had.epoch === u.epoch) this.#withdraw(u.fp, claims, had);
          return;
        }
        if (had && had.epoch > u.epoch) return;
        claims.set(u.instance, entry);
        const mine = claims.get(this.#o.instance);
        if (mine && outranks(entry, mine)) {
          this.#withdraw(u.fp, claims, mine);
          withdrawals.push({ ...mine, fp: u.fp, online: false });
          changes.push({ kind: 'evicted', fp: u.fp, by: u.relay });
        }
      }),
    );
    return { changes, withdrawals };
  }

  /** One part of a peer's full list; when every part is in, its claims not listed are dropped. */
  applySnapshot(s: Snapshot): { changes: DirectoryChange[]; withdrawals: DirectoryUpdate[] } {
    const out = { changes: [] as DirectoryChange[], withdrawals: [] as DirectoryUpdate[] };
    if (s.instance === this.#o.instance) return out;
    out.changes.push(...this.#touch(s.relay, s.instance, null));
    for (const [fp, epoch] of s.entries) {
      const r = this.apply({ relay: s.relay, instance: s.instance, fp, epoch, online: true });
      out.changes.push(...r.changes);
      out.withdrawals.push(...r.withdrawals);
    }
    let progress = this.#snapshots.get(s.instance);
    if (!progress || progress.gen !== s.gen) {
      progress = { gen: s.gen, parts: new Set(), fps: new Set() };
      this.#snapshots.set(s.instance, progress);
    }
    progress.parts.add(s.part);
    for (const [fp] of s.entries) progress.fps.add(fp);
    if (progress.parts.size >= s.parts) {
      this.#snapshots.delete(s.instance);
      const listed = progress.fps;
      out.changes.push(...this.#dropClaimsOf(s.instance, (fp) => !listed.has(fp)));
    }
    return out;
  }

  heartbeat(hb: Heartbeat): DirectoryChange[] {
    if (hb.instance === this.#o.instance) return [];
    return this.#touch(hb.relay, hb.instance, hb);
  }

  /** The peer said it is leaving: its registrations go now, not after the timeout. */
  left(relay: string, instance: string): DirectoryChange[] {
    if (!this.#peers.has(instance)) return [];
    return this.#drop(relay, instance, 'left');
  }

  /** Drops peers not heard for the timeout; call a few times per heartbeat interval. */
  expire(): DirectoryChange[] {
    const t = this.#o.now();
    const changes: DirectoryChange[] = [];
    for (const p of [...this.#peers.values()]) {
      if (t - p.lastSeenMs > this.#o.peerTimeoutMs)
        changes.push(...this.#drop(p.relay, p.instance, 'timeout'));
    }
    const wall = this.#o.wallNow();
    for (const [fp, epoch] of this.#tombstones) if (epoch < wall) this.#tombstones.delete(fp);
    return changes;
  }

  /** Our own registrations, in parts small enough for one NATS message each. */
  snapshot(): Snapshot[] {
    const mine: [Fingerprint, number][] = [];
    for (const [fp, claims] of this.#claims) {
      const c = claims.get(this.#o.instance);
      if (c) mine.push([fp, c.epoch]);
    }
    const gen = this.#snapshotGen++;
    const parts = Math.max(1, Math.ceil(mine.length / SNAPSHOT_CHUNK));
    const out: Snapshot[] = [];
    for (let part = 0; part < parts; part++) {
      out.push({
        relay: this.#o.relay,
        instance: this.#o.instance,
        gen,
        part,
        parts,
        entries: mine.slice(part * SNAPSHOT_CHUNK, (part + 1) * SNAPSHOT_CHUNK),
      });
    }
    return out;
  }

  /** Runs `change` on the claims of `fp` and reports what it did to the holder. */
  #mutate(fp: Fingerprint, change: (claims: Claims) => void): DirectoryChange[] {
    const claims: Claims = this.#claims.get(fp) ?? new Map();
    const before = top(claims);
    change(claims);
    if (claims.size === 0) this.#claims.delete(fp);
    else this.#claims.set(fp, claims);
    const after = top(claims);
    if (!before && after) return [{ kind: 'online', fp, relay: after.relay }];
    if (before && !after) return [{ kind: 'offline', fp, relay: before.relay }];
    if (before && after && before.instance !== after.instance)
      return [{ kind: 'moved', fp, from: before.relay, to: after.relay }];
    return [];
  }

  #withdraw(fp: Fingerprint, claims: Claims, claim: DirectoryEntry): void {
    claims.delete(claim.instance);
    if (claim.instance === this.#o.instance) this.#local--;
    this.#tombstones.set(fp, Math.max(this.#tombstones.get(fp) ?? -1, claim.epoch));
  }

  #dropClaimsOf(instance: string, which: (fp: Fingerprint) => boolean): DirectoryChange[] {
    const changes: DirectoryChange[] = [];
    for (const [fp, claims] of [...this.#claims]) {
      const c = claims.get(instance);
      if (!c || !which(fp)) continue;
      changes.push(...this.#mutate(fp, (cl) => this.#withdraw(fp, cl, c)));
    }
    return changes;
  }

  #touch(relay: string, instance: string, hb: Heartbeat | null): DirectoryChange[] {
    const t = this.#o.now();
    const p = this.#peers.get(instance);
    if (p) {
      p.lastSeenMs = t;
      if (hb) {
        p.media = hb.media;
        p.registered = hb.registered;
      }
      return [];
    }
    const peer: PeerInfo = {
      relay,
      instance,
      media: hb?.media ?? '',
      registered: hb?.registered ?? 0,
      firstSeenMs: t,
      lastSeenMs: t,
    };
    this.#peers.set(instance, peer);
    this.#relaysSeen.add(relay);
    return [{ kind: 'peer-up', peer: { ...peer } }];
  }

  #drop(relay: string, instance: string, why: PeerDownReason): DirectoryChange[] {
    this.#peers.delete(instance);
    this.#snapshots.delete(instance);
    const lost = this.#dropClaimsOf(instance, () => true);
    const entries = lost.filter((c) => c.kind === 'offline').length;
    return [{ kind: 'peer-down', relay, instance, why, entries }, ...lost];
  }
}
