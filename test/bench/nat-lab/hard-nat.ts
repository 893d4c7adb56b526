// The hard-NAT part of the NAT-lab bench (issue 15): calls between two endpoint-dependent NATs
// whose routers run miniupnpd (direct through port mapping), refuse mapping, or say nothing,
// each figure beside libwebrtc in the same run where it has one (libwebrtc does no port mapping,
// so its symmetric-symmetric run is exactly what it gets behind these routers).
import { startLabRelay, withLab } from '../../lab/lab-calls.ts';
import {
  PORT_MAPPING_SCENARIOS,
  startScenarioServices,
  type PortMappingScenarioName,
} from '../../lab/port-mapping-routers.ts';
import type { BenchRow } from '../bench-types.ts';
import { summarize } from './analysis.ts';
import { measuredCall, type CallPlan, type CallRecord } from './our-calls.ts';
import type { PeerRun } from './peer.ts';

export const HARD_NAT_PEER_SCENARIO = 'symmetric-symmetric';
const PLAN: CallPlan = { seconds: 5, markersMs: [2500, 3500] };
export const HARD_NAT_RUNS: { name: PortMappingScenarioName; calls: number }[] = [
  { name: 'symmetric-symmetric+miniupnpd', calls: 10 },
  { name: 'symmetric-symmetric+refusing', calls: 3 },
  { name: 'symmetric-symmetric+silent', calls: 3 },
];

/** One lab, one relay and one set of router services per scenario, shared by its calls. */
export async function hardNatCalls(): Promise<Record<string, CallRecord[]>> {
  const out: Record<string, CallRecord[]> = {};
  for (const { name, calls } of HARD_NAT_RUNS) {
    out[name] = await withLab(PORT_MAPPING_SCENARIOS[name].topology, async (lab) => {
      const relay = await startLabRelay(lab);
      const services = await startScenarioServices(lab, name, { stun: relay.stun }).catch(
        async (e: unknown) => {
          await relay.stop();
          throw e;
        },
      );
      try {
        const rs: CallRecord[] = [];
        for (let i = 0; i < calls; i++) {
          const r = { ...(await measuredCall(lab, relay, PLAN)), scenario: name };
          console.error(
            `nat-lab: ${name} ${i + 1}/${calls} direct=${r.direct?.ok} setup=${r.direct?.setupMs ?? '-'}ms` +
              (r.error ? ` ERROR ${r.error.slice(0, 300)}` : ''),
          );
          rs.push(r);
        }
        return rs;
      } finally {
        await Promise.all(services.map((s) => s.stop()));
        await relay.stop();
      }
    });
  }
  return out;
}

const num = (x: unknown): number | null => (typeof x === 'number' ? x : null);
const r1 = (x: number | null) =>
  x === null || !Number.isFinite(x) ? Number.NaN : Math.round(x * 10) / 10;

/** Table rows: direct rate, set-up time, how long the router took to answer (or be given up). */
export function hardNatRows(calls: Record<string, CallRecord[]>, peer: PeerRun): BenchRow[] {
  const p = peer.scenarios.find((s) => s.scenario === HARD_NAT_PEER_SCENARIO);
  const peerName = p
    ? `libwebrtc ${p.connected}/${p.calls}, ${HARD_NAT_PEER_SCENARIO} (measured in this run)`
    : 'libwebrtc: not measured in this run';
  const rows: BenchRow[] = [];
  for (const { name } of HARD_NAT_RUNS) {
    const rs = calls[name] ?? [];
    const ok = rs.filter((r) => r.direct?.ok).length;
    const row: BenchRow = {
      metric: `direct connect rate, ${name} (${ok}/${rs.length})`,
      value: r1(rs.length > 0 ? (100 * ok) / rs.length : Number.NaN),
      unit: '%',
      baselineName: peerName,
    };
    if (p) row.baseline = r1((100 * p.connected) / Math.max(1, p.calls));
    rows.push(row);
    const setup = summarize(
      rs.flatMap((r) => (r.direct?.setupMs != null ? [r.direct.setupMs] : [])),
    );
    if (setup.n > 0) {
      rows.push({
        metric: `direct set-up median, ${name}`,
        value: r1(setup.median),
        unit: 'ms',
        baselineName: p?.connected ? peerName : 'libwebrtc: never connects here, no figure',
      });
    }
    const answered = summarize(
      rs.flatMap((r) =>
        Object.values(r.portMapping ?? {}).flatMap((m) => {
          const ms = num(m?.elapsedMs);
          return ms === null ? [] : [ms];
        }),
      ),
    );
    rows.push({
      metric: `router answer (or give-up) median, ${name}`,
      value: r1(answered.median),
      unit: 'ms',
    });
  }
  return rows;
}
