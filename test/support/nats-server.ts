// A real `nats-server` (Debian's package) for tests: on a free loopback port, ready when it says
// so, stopped (or killed, and started again on the same port) by the test that made it. Every
// server still running when the test process exits is killed, so none outlives a failed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface RunningNats {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL: an outage as a crash or a cut cable looks to the relays. */
  kill(): Promise<void>;
  /** Start again on the same port after kill() or stop(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function spawnNats(port: number): Promise<ChildProcess> {
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--no_advertise'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server on port ${port} not ready in 10 s: ${log}`));
    }, 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run nats-server (apt-get install nats-server): ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}: ${log}`));
    });
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

async function end(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const force = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(force);
}

export async function startNats(opts: { port?: number } = {}): Promise<RunningNats> {
  const port = opts.port ?? (await freeTcpPort());
  let child: ChildProcess | null = await spawnNats(port);
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    async kill() {
      await end(child, 'SIGKILL');
      child = null;
    },
    async restart() {
      await end(child, 'SIGTERM');
      child = await spawnNats(port);
    },
    async stop() {
      await end(child, 'SIGTERM');
      child = null;
    },
  };
}
