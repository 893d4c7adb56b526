// NAT-lab figures (DESIGN.md "Measuring", issue 6), real `wzp` processes behind real Linux NAT
// (test/lab), each figure beside a baseline measured in the same run:
// 1. direct-path set-up: first candidate to an authenticated direct path, and the success rate,
//    in cone-cone, cone-cone-wanfw and public-cone, beside libwebrtc's ICE/DTLS connected time
//    and connect rate in the same kind of lab (../shared/peer, run here, now);
// 2. mouth-to-ear on the direct path beside the relay path (cone-cone, runs interleaved so load
//    from elsewhere hits both alike), and beside libwebrtc's where it connects;
// 3. migration and fallback: the audio gap around the relay-to-direct switch, and after cutting
//    the direct path mid-call the time until each side is back on the relay and the audio gap
//    that costs, beside the 1 s direct-path silence threshold the design falls back on.
// 4. hard NATs (issue 15): symmetric-symmetric behind miniupnpd routers, refusing and silent
//    ones (direct rate, set-up, the router's answer time) beside libwebrtc's symmetric-symmetric.
// Needs root. About 8 minutes on a 2-core machine (about 100 s of it the libwebrtc peer).
import { loadavg } from 'node:os';
import { startLabRelay, withLab } from '../lab/lab-calls.ts';
import type { ScenarioName } from '../lab/topologies.ts';
import type { BenchResult, BenchRow } from './bench-types.ts';
import { summarize, type Summary } from './nat-lab/analysis.ts';
import { measuredCall, CARRIER_DBFS, DROPOUT_DBFS, SILENCE_DBFS } from './nat-lab/our-calls.ts';
import type { CallPlan, CallRecord, SideGap } from './nat-lab/our-calls.ts';
import { HARD_NAT_PEER_SCENARIO, hardNatCalls, hardNatRows } from './nat-lab/hard-nat.ts';
import { PEER_README_FIGURES, runPeer, type PeerRun, type PeerScenario } from './nat-lab/peer.ts';

/** Markers from 2.5 s: after the switch to direct (about 0.35 s into the call) has settled. */
const MARKERS_MS = [2500, 3500, 4500, 5500];
const CONE_RUNS = 10;
const DIRECT_PLAN: CallPlan = { seconds: 9, markersMs: MARKERS_MS, cutAtMs: 6300 };
const RELAY_PLAN: CallPlan = { seconds: 6, markersMs: MARKERS_MS, relayOnly: true };
const SHORT_PLAN: CallPlan = { seconds: 5, markersMs: MARKERS_MS.slice(0, 3) };
const OTHER_SCENARIOS: { ours: ScenarioName; peer: string; calls: number }[] = [
  { ours: 'cone-cone-wanfw', peer: 'cone-cone+wanfw', calls: 5 },
  { ours: 'public-cone', peer: 'public-cone', calls: 3 },
];
const PEER_CALLS = 3;
/** The engine gives up on a direct path silent this long (DIRECT_SILENCE_MS in call.ts). */
const DIRECT_SILENCE_THRESHOLD_MS = 1000;

async function scenarioCalls(
  scenario: ScenarioName,
  plans: readonly CallPlan[],
): Promise<CallRecord[]> {
  return withLab(scenario, async (lab) => {
    const relay = await startLabRelay(lab);
    try {
      const out: CallRecord[] = [];
      for (const [i, plan] of plans.entries()) {
        const r = await measuredCall(lab, relay, plan);
        console.error(
          `nat-lab: ${scenario} ${r.kind} ${i + 1}/${plans.length}` +
            (r.direct ? ` direct=${r.direct.ok} setup=${r.direct.setupMs ?? '-'}ms` : '') +
            (r.fallback ? ` fallback=${JSON.stringify(r.fallback.fallbackMs)}` : '') +
            (r.error ? ` ERROR ${r.error.slice(0, 300)}` : ''),
        );
        out.push(r);
      }
      return out;
    } finally {
      await relay.stop();
    }
  });
}

const directs = (rs: readonly CallRecord[]) => rs.filter((r) => r.kind === 'direct');
const setupTimes = (rs: readonly CallRecord[]) =>
  directs(rs).flatMap((r) => (r.direct?.setupMs != null ? [r.direct.setupMs] : []));
const successes = (rs: readonly CallRecord[]) => directs(rs).filter((r) => r.direct?.ok).length;
const m2eOf = (rs: readonly CallRecord[]) =>
  rs.flatMap((r) => [...(r.m2e?.callerToCallee ?? []), ...(r.m2e?.calleeToCaller ?? [])]);
/** One figure per call (its markers' median), since a call's markers share its jitter buffer. */
const m2ePerCall = (rs: readonly CallRecord[]) =>
  summarize(rs.map((r) => summarize(m2eOf([r])).median));
const perSide = <T>(rs: readonly CallRecord[], f: (r: CallRecord) => Partial<Record<string, T>>) =>
  rs.flatMap((r) => Object.values(f(r)).filter((x): x is T => x !== undefined));

const r1 = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? Number.NaN : Math.round(x * 10) / 10;

function row(
  metric: string,
  value: number,
  unit: string,
  baseline?: number | null,
  baselineName?: string,
): BenchRow {
  const out: BenchRow = { metric, value: r1(value), unit };
  if (baseline !== undefined && baseline !== null && Number.isFinite(baseline))
    out.baseline = r1(baseline);
  if (baselineName !== undefined) out.baselineName = baselineName;
  return out;
}

function peerFor(peer: PeerRun, name: string): PeerScenario | undefined {
  return peer.scenarios.find((s) => s.scenario === name);
}

/** "libwebrtc DTLS connected" or why there is no such figure. */
function peerSetupName(p: PeerScenario | undefined): string {
  if (p === undefined) return 'libwebrtc: not measured in this run';
  if (p.connected === 0) return `libwebrtc: 0/${p.calls} connected (ICE failed), no figure`;
  return `libwebrtc DTLS connected (ICE ${p.iceConnectedMs.median ?? '-'} ms), ${p.scenario}`;
}

export async function run(): Promise<BenchResult> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new Error('nat-lab needs root (network namespaces, iptables)');
  const t0 = Date.now();
  const load0 = loadavg();

  // 1-3 in cone-cone: direct calls (set-up, mouth-to-ear, migration, cut and fallback)
  // interleaved with relay-only calls (the mouth-to-ear baseline).
  const conePlans = Array.from({ length: CONE_RUNS }, () => [DIRECT_PLAN, RELAY_PLAN]).flat();
  const cone = await scenarioCalls('cone-cone', conePlans);
  const others: Record<string, CallRecord[]> = {};
  for (const s of OTHER_SCENARIOS)
    others[s.ours] = await scenarioCalls(s.ours, Array(s.calls).fill(SHORT_PLAN) as CallPlan[]);
  // Hard NATs (issue 15): symmetric on both sides, routers with and without port mapping.
  const hardNat = await hardNatCalls();
  const oursS = (Date.now() - t0) / 1000;

  // 4. libwebrtc in its own copy of the same lab, after ours (never both at once on 2 cores).
  const peer = await runPeer({
    scenarios: ['cone-cone', ...OTHER_SCENARIOS.map((s) => s.peer), HARD_NAT_PEER_SCENARIO],
    calls: PEER_CALLS,
    callSeconds: 4,
    timeoutMs: 180_000,
  });

  const coneDirect = directs(cone);
  const coneRelay = cone.filter((r) => r.kind === 'relay');
  const setup: Record<string, Summary & { success: string }> = {
    'cone-cone': { ...summarize(setupTimes(cone)), success: `${successes(cone)}/${CONE_RUNS}` },
  };
  for (const s of OTHER_SCENARIOS) {
    const rs = others[s.ours] ?? [];
    setup[s.ours] = { ...summarize(setupTimes(rs)), success: `${successes(rs)}/${s.calls}` };
  }
  const m2eDirect = summarize(m2eOf(coneDirect));
  const m2eRelay = summarize(m2eOf(coneRelay));
  const migrationGaps = perSide(coneDirect, (r) => r.migration ?? {});
  const fallbackTime = summarize(perSide(coneDirect, (r) => r.fallback?.fallbackMs ?? {}));
  const fallbackGaps = perSide(coneDirect, (r) => r.fallback?.gap ?? {});
  const gapFigures = (gaps: readonly SideGap[]) => ({
    longestDropoutMs: summarize(gaps.map((g) => g.longestDropoutMs)),
    dropoutMs: summarize(gaps.map((g) => g.dropoutMs)),
    longestSilentMs: summarize(gaps.map((g) => g.longestSilentMs)),
    framesConcealed: summarize(
      gaps.flatMap((g) => (g.framesConcealed === null ? [] : [g.framesConcealed])),
    ),
  });
  const migration = gapFigures(migrationGaps);
  const fallback = gapFigures(fallbackGaps);
  const cutRuns = coneDirect.filter((r) => r.fallback !== undefined).length;

  const table: BenchRow[] = [];
  // 1. Set-up.
  const peerCone = peerFor(peer, 'cone-cone');
  table.push(
    row(
      'direct set-up median, cone-cone',
      setup['cone-cone']?.median ?? Number.NaN,
      'ms',
      peerCone?.dtlsConnectedMs.median,
      peerSetupName(peerCone),
    ),
    row(
      'direct set-up p95, cone-cone',
      setup['cone-cone']?.p95 ?? Number.NaN,
      'ms',
      peerCone?.dtlsConnectedMs.p95,
      peerSetupName(peerCone),
    ),
  );
  for (const s of OTHER_SCENARIOS) {
    const p = peerFor(peer, s.peer);
    table.push(
      row(
        `direct set-up median, ${s.ours}`,
        setup[s.ours]?.median ?? Number.NaN,
        'ms',
        p?.dtlsConnectedMs.median,
        peerSetupName(p),
      ),
    );
  }
  const rate = (ok: number, n: number) => (n > 0 ? (100 * ok) / n : Number.NaN);
  for (const [ours, peerName, rs] of [
    ['cone-cone', 'cone-cone', cone] as const,
    ...OTHER_SCENARIOS.map((s) => [s.ours, s.peer, others[s.ours] ?? []] as const),
  ]) {
    const p = peerFor(peer, peerName);
    const n = directs(rs).length;
    table.push(
      row(
        `direct connect rate, ${ours} (${successes(rs)}/${n})`,
        rate(successes(rs), n),
        '%',
        p ? rate(p.connected, p.calls) : null,
        p ? `libwebrtc ${p.connected}/${p.calls}` : 'libwebrtc: not measured in this run',
      ),
    );
  }
  // 2. Mouth-to-ear.
  table.push(
    row(
      'mouth-to-ear median, direct, cone-cone',
      m2eDirect.median,
      'ms',
      m2eRelay.median,
      'relay path, same lab',
    ),
    row(
      'mouth-to-ear p95, direct, cone-cone',
      m2eDirect.p95,
      'ms',
      m2eRelay.p95,
      'relay path, same lab',
    ),
  );
  for (const s of OTHER_SCENARIOS) {
    const p = peerFor(peer, s.peer);
    const m = p?.audioAtoB?.mouthToEarMs;
    table.push(
      row(
        `mouth-to-ear median, direct, ${s.ours}`,
        summarize(m2eOf(others[s.ours] ?? [])).median,
        'ms',
        m?.median,
        m ? `libwebrtc (analyser to analyser), ${s.peer}` : 'libwebrtc: no figure in this run',
      ),
    );
  }
  // 3. Migration and fallback. Gaps have no baseline: zero is the ideal, not a measurement.
  table.push(
    row(
      `fallback time median (cut → relay, ${cutRuns} runs)`,
      fallbackTime.median,
      'ms',
      DIRECT_SILENCE_THRESHOLD_MS,
      'direct silence threshold',
    ),
    row(
      'fallback time p95',
      fallbackTime.p95,
      'ms',
      DIRECT_SILENCE_THRESHOLD_MS,
      'direct silence threshold',
    ),
    row('audio gap at fallback median', fallback.longestDropoutMs.median, 'ms'),
    row('audio gap at fallback p95', fallback.longestDropoutMs.p95, 'ms'),
    row('frames concealed at fallback median', fallback.framesConcealed.median, 'frames'),
    row('frames concealed at fallback p95', fallback.framesConcealed.p95, 'frames'),
    row('audio gap at migration median', migration.longestDropoutMs.median, 'ms'),
    row('audio gap at migration p95', migration.longestDropoutMs.p95, 'ms'),
    row('frames concealed at migration median', migration.framesConcealed.median, 'frames'),
    row('frames concealed at migration p95', migration.framesConcealed.p95, 'frames'),
  );

  table.push(...hardNatRows(hardNat, peer));

  const peerDetails = peer.ok
    ? { measuredInThisRun: true, ...peer }
    : {
        measuredInThisRun: peer.scenarios.length > 0,
        ...peer,
        notMeasuredInThisRun_readmeFigures: PEER_README_FIGURES,
      };
  return {
    table,
    details: {
      method: {
        lab: 'test/lab netns labs; one lab and one relay per scenario, shared by its calls (fresh sockets, so fresh NAT mappings, each call)',
        setup:
          "per call, the later of the two sides' direct.sinceFirstCandidateMs (first remote candidate to authenticated direct path); libwebrtc: later side, from the caller applying the answer (all candidates already in the SDP) to ICE / DTLS connected",
        mouthToEar: `noise-burst markers at ${MARKERS_MS.join(', ')} ms in each side's microphone WAV on a ${CARRIER_DBFS} dBFS carrier, onsets above -12 dBFS in the other side's recording, lined up by mediaStartMs; both directions pooled. libwebrtc's figure is taken between Web Audio analysers and includes its capture and playout`,
        gaps: `the audio gap is the longest run of 20 ms blocks in the receiving side's recording that lost the continuous tone, i.e. fell below ${DROPOUT_DBFS} dBFS (carrier - 6 dB: Opus concealment here sits 10-20 dB below the carrier, it is not silent); near-silence (below ${SILENCE_DBFS} dBFS) is counted too; migration window: 300 ms before to 700 ms after the side's path-direct event (never before first audio + 40 ms); fallback window: 200 ms before the cut to 800 ms after the later side's path-relay event; frames concealed: growth of the side's stats.framesConcealed across the same span (stats are per second, so the span is rounded out to whole seconds)`,
        fallback: `cut = lab.blockUdpBetweenClients() (INPUT drops in both clients) at ${DIRECT_PLAN.cutAtMs} ms into the call; time from the start of the cut to each side's path-relay event (both sides pooled)`,
        plans: { direct: DIRECT_PLAN, relay: RELAY_PLAN, short: SHORT_PLAN },
      },
      setup,
      mouthToEar: {
        directConeCone: { ...m2eDirect, perCallMedian: m2ePerCall(coneDirect) },
        relayConeCone: { ...m2eRelay, perCallMedian: m2ePerCall(coneRelay) },
        note: 'within a call the markers differ in whole 20 ms frames as the jitter buffer drains a start-up excess; across calls the spread follows the machine load at call start',
      },
      otherScenarioMouthToEar: Object.fromEntries(
        OTHER_SCENARIOS.map((s) => [s.ours, summarize(m2eOf(others[s.ours] ?? []))]),
      ),
      migration,
      fallback: { timeMs: fallbackTime, ...fallback },
      errors: [...cone, ...Object.values(others).flat(), ...Object.values(hardNat).flat()].flatMap(
        (r) => (r.error ? [{ scenario: r.scenario, kind: r.kind, error: r.error }] : []),
      ),
      calls: { 'cone-cone': cone, ...others, ...hardNat },
      peer: peerDetails,
      timing: {
        oursS: Math.round(oursS),
        peerS: peer.wallS,
        totalS: Math.round((Date.now() - t0) / 1000),
        loadAvgStart: load0.map(r1),
        loadAvgEnd: loadavg().map(r1),
      },
    },
  };
}
