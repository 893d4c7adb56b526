// `wzp relay`: run a relay (signaling, presence, STUN, relayed media) until SIGTERM/SIGINT.
// stdout carries the events (JSON lines with --json); stderr carries structured logs (pino).
import { createServer, type Server } from 'node:http';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { loadIdentity } from '../engine/call/softphone-api.ts';
import { RelayServer } from '../relay/relay-server.ts';
import type { RelayState } from '../relay/relay-state.ts';
import { RELAY_NAME } from '../relay/cluster/cluster-protocol.ts';
import { NatsRelayState } from '../relay/cluster/nats-relay-state.ts';
import { hostPortArg, positiveIntArg, positiveNumberArg } from './args.ts';
import { CliError } from './cli-error.ts';
import { asCliError } from './identity-command.ts';
import { EventOutput } from './event-output.ts';
import { installCrashGuard } from './crash-guard.ts';

interface RelayFlags {
  listen: { host: string; port: number };
  stun?: { host: string; port: number };
  announceStun?: { host: string; port: number };
  identity: string;
  json?: boolean;
  maxClients?: number;
  maxUnregistered?: number;
  maxUnregisteredPerAddress?: number;
  callIdleTimeout?: number;
  registrationTimeout?: number;
  signalRate?: number;
  signalBurst?: number;
  metrics?: { host: string; port: number };
  cluster: string[];
  name?: string;
  logLevel: string;
}

/** `nats://HOST:PORT` (or `tls://`), optionally with `user:password@`; repeatable. */
function natsUrlArg(value: string, previous: string[]): string[] {
  if (!/^(nats|tls):\/\/([^\s/@]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)) {
    throw new CliError(`--cluster expects nats://HOST:PORT, got "${value}"`);
  }
  return [...previous, value];
}

function relayNameArg(value: string): string {
  if (!RELAY_NAME.test(value)) {
    throw new CliError(
      `--name expects 1 to 32 letters, digits, "-" or "_" (starting with a letter or digit), got "${value}"`,
    );
  }
  return value;
}

export function registerRelayCommand(program: Command): void {
  program
    .command('relay')
    .description(
      'run a relay: registration, presence, call signaling, STUN and relayed media for clients that cannot reach each other directly',
    )
    .requiredOption(
      '--listen <host:port>',
      'QUIC address for client connections',
      hostPortArg('--listen'),
    )
    .option(
      '--stun <host:port>',
      'UDP address for STUN and relayed media (default: the --listen host, port + 1)',
      hostPortArg('--stun'),
    )
    .option(
      '--announce-stun <host:port>',
      'the STUN/media address to tell clients, when they reach the --stun port through a port forward',
      hostPortArg('--announce-stun', false),
    )
    .requiredOption('--identity <file>', "the relay's identity file (wzp identity new)")
    .option('--json', 'print events as JSON lines on stdout')
    .option(
      '--max-clients <n>',
      'refuse registrations beyond this many clients (default 10000)',
      positiveIntArg('--max-clients'),
    )
    .option(
      '--max-unregistered <n>',
      'connections that have not registered yet, in all (default 1000)',
      positiveIntArg('--max-unregistered'),
    )
    .option(
      '--max-unregistered-per-address <n>',
      'connections that have not registered yet, per IPv4 address or IPv6 /64 (default 32)',
      positiveIntArg('--max-unregistered-per-address'),
    )
    .option(
      '--registration-timeout <s>',
      'close connections that have not registered within this many seconds (default 5)',
      positiveNumberArg('--registration-timeout', 600),
    )
    .option(
      '--signal-rate <n>',
      'call signals per second per identity, on average (default 30)',
      positiveNumberArg('--signal-rate', 10_000),
    )
    .option(
      '--signal-burst <n>',
      'call signals per identity in a burst (default 60)',
      positiveIntArg('--signal-burst', 100_000),
    )
    .option(
      '--call-idle-timeout <s>',
      'end a relayed call when no media has flowed in it for this many seconds (default 60)',
      positiveNumberArg('--call-idle-timeout', 86_400),
    )
    .option(
      '--metrics <host:port>',
      'serve JSON metrics over HTTP on this loopback address',
      hostPortArg('--metrics'),
    )
    .option(
      '--cluster <nats-url>',
      'join a cluster of relays through this NATS server (repeat for a NATS cluster)',
      natsUrlArg,
      [],
    )
    .option(
      '--name <name>',
      "this relay's name in the cluster (unique; needed with --cluster)",
      relayNameArg,
    )
    .option('--log-level <level>', 'log level on stderr: debug, info, warn, error, silent', 'info')
    .action(async (flags: RelayFlags) => runRelay(flags));
}

async function runRelay(flags: RelayFlags): Promise<void> {
  const levels = ['debug', 'info', 'warn', 'error', 'silent'];
  if (!levels.includes(flags.logLevel)) {
    throw new CliError(`--log-level expects one of ${levels.join(', ')}, got "${flags.logLevel}"`);
  }
  if (flags.metrics && !isLoopback(flags.metrics.host)) {
    throw new CliError(
      '--metrics must be a loopback address (127.0.0.1 or ::1): metrics are not for the network',
    );
  }
  if (flags.cluster.length > 0 && !flags.name) {
    throw new CliError('--cluster needs --name NAME: each relay of a cluster has its own name');
  }
  if (flags.name && flags.cluster.length === 0) {
    throw new CliError(
      "--name is the relay's name in a cluster: give --cluster nats://HOST:PORT too",
    );
  }
  let identity;
  try {
    identity = loadIdentity(flags.identity);
  } catch (e) {
    throw asCliError(e);
  }
  const stun = flags.stun ?? {
    host: flags.listen.host,
    port: flags.listen.port === 0 ? 0 : flags.listen.port + 1,
  };
  const guard = installCrashGuard((line) => process.stderr.write(line + '\n'));
  const logger: Logger = pino(
    { level: flags.logLevel, base: { svc: 'wzp-relay' } },
    pino.destination(2),
  );
  const out = new EventOutput(flags.json === true);
  let relay: RelayServer;
  const state: RelayState | undefined = flags.name
    ? new NatsRelayState({ servers: flags.cluster, name: flags.name, logger })
    : undefined;
  try {
    relay = await RelayServer.start({
      identity,
      listen: flags.listen,
      stun,
      announceStun: flags.announceStun,
      logger,
      maxClients: flags.maxClients,
      state,
      maxUnregistered: flags.maxUnregistered,
      maxUnregisteredPerAddress: flags.maxUnregisteredPerAddress,
      signalRatePerSec: flags.signalRate,
      ...(flags.registrationTimeout !== undefined
        ? { registrationTimeoutMs: flags.registrationTimeout * 1000 }
        : {}),
      signalBurst: flags.signalBurst,
      ...(flags.callIdleTimeout !== undefined
        ? {
            callIdleMs: flags.callIdleTimeout * 1000,
            sweepIntervalMs: Math.min(10_000, (flags.callIdleTimeout * 1000) / 2),
          }
        : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const detail =
      code === 'EADDRINUSE' ? 'address already in use' : e instanceof Error ? e.message : String(e);
    throw new CliError(
      `cannot start relay on ${flags.listen.host}:${flags.listen.port} / ${stun.host}:${stun.port}: ${detail}`,
      1,
    );
  }
  // Before "listening": a SIGUSR1 that arrives first would start Node's inspector instead.
  process.on('SIGUSR1', () => {
    const m = { ...relay.metrics(), quicFailuresAbsorbed: guard.absorbed };
    logger.info({ health: m }, 'health');
    out.event('health', { ...m }, () => healthLine(m));
  });
  out.event(
    'listening',
    { quic: relay.quicAddress, stun: relay.stunAddress, fingerprint: relay.fingerprint },
    () =>
      [
        `relay listening: quic ${relay.quicAddress}, stun ${relay.stunAddress}`,
        `fingerprint ${relay.fingerprint}`,
      ].join('\n'),
  );

  let metricsServer: Server | null = null;
  if (flags.metrics) {
    metricsServer = await serveMetrics(flags.metrics, () => ({
      ...relay.metrics(),
      quicFailuresAbsorbed: guard.absorbed,
    }));
    out.event(
      'metrics',
      {
        url: `http://${flags.metrics.host}:${(metricsServer.address() as { port: number }).port}/metrics`,
      },
      (d) => `metrics at ${String(d.url)}`,
    );
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      void relay
        .shutdown()
        .then(
          () => new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r())),
        )
        .then(() => {
          out.event('stopped', { reason: signal }, () => 'relay stopped');
          resolve();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.flush();
  process.exit(0);
}

function healthLine(m: ReturnType<RelayServer['metrics']>): string {
  const base = `health: ${m.clients} clients, ${m.calls} calls, ${m.signalsForwarded} signals forwarded`;
  const c = m.cluster;
  if (!c) return base;
  const peers = c.peers.map((p) => p.relay).join(', ') || 'none';
  const trunk = m.media.forwarder;
  return (
    `${base}; cluster ${c.name}: NATS link ${c.link}, peers ${peers} (${c.peersSeen} seen), ` +
    `${c.directory} registrations cluster-wide, ${m.signalsRouted} signals routed out / ` +
    `${m.signalsRoutedIn} in, ${m.crossRelayCalls} cross-relay calls, ${trunk.trunks} media ` +
    `trunks (${trunk.trunkOut} frames out, ${trunk.trunkIn} in)`
  );
}

function isLoopback(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\./.test(host);
}

function serveMetrics(
  addr: { host: string; port: number },
  snapshot: () => unknown,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(snapshot()));
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) =>
      reject(new CliError(`--metrics ${addr.host}:${addr.port}: ${e.message}`, 1)),
    );
    server.listen(addr.port, addr.host, () => resolve(server));
  });
}
