// `npm start`: what the product runs on this machine. The desktop app is not built yet, so this
// starts a relay on loopback with an identity kept under ~/.local/share/wz-phone and prints how
// to place a call between two `wzp` clients through it. It says so plainly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const dataDir = process.env.WZP_DATA_DIR ?? join(homedir(), '.local', 'share', 'wz-phone');
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const relayId = join(dataDir, 'relay-identity.json');
const wzp = [process.execPath, join(import.meta.dirname, '..', 'bin', 'wzp.mjs')];
if (!existsSync(relayId)) {
  const made = spawnSync(wzp[0], [wzp[1], 'identity', 'new', '--out', relayId], {
    stdio: 'inherit',
  });
  if (made.status !== 0) process.exit(made.status ?? 1);
}
const listen = process.env.WZP_RELAY_LISTEN ?? '127.0.0.1:7000';
console.log('wz-phone: the desktop app is not part of this build yet; starting a local relay.');
console.log(`wz-phone: relay identity ${relayId}, listening on ${listen} (Ctrl-C to stop)`);
const relay = spawn(wzp[0], [wzp[1], 'relay', '--listen', listen, '--identity', relayId], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => relay.kill('SIGTERM'));
relay.on('exit', (code) => process.exit(code ?? 0));
