// The real SoftphoneFactory: the call engine (startSoftphone) configured from the app's
// settings. Hosts pass this to the AppService; tests pass a fake instead.
import { parseHostPort } from '../../src-shared/relay-protocol.ts';
import {
  Identity,
  startSoftphone,
  type Address,
  type Softphone,
} from '../engine/call/softphone-api.ts';
import type { SoftphoneConfig } from './softphone-factory.ts';

function address(hostPort: string, what: string): Address {
  const hp = parseHostPort(hostPort);
  if (!hp || hp.port < 1) throw new Error(`bad ${what} address "${hostPort}"`);
  return { host: hp.host, port: hp.port };
}

export async function createSoftphone(config: SoftphoneConfig): Promise<Softphone> {
  const stun = config.stunServers.map((s) => address(s, 'STUN'));
  return startSoftphone({
    identity: Identity.fromSeed(config.identitySeed),
    relay: address(config.relay.address, 'relay'),
    relayTrust: { fingerprint: config.relay.fingerprint },
    directCalls: config.directCalls,
    portMapping: config.portMapping,
    ...(stun.length > 0 ? { stunServers: stun } : {}),
  });
}
