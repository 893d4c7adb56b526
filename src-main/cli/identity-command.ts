// `wzp identity new --out FILE` and `wzp identity show FILE`.
import type { Command } from 'commander';
import {
  Identity,
  IdentityError,
  loadIdentity,
  saveIdentity,
} from '../engine/call/softphone-api.ts';
import { formatFingerprint } from '../../src-shared/fingerprint.ts';
import { CliError } from './cli-error.ts';

export function registerIdentityCommands(program: Command): void {
  const identity = program
    .command('identity')
    .description(
      'create or inspect an identity (an Ed25519 seed file; its fingerprint is who you are)',
    );

  identity
    .command('new')
    .description(
      'create a new identity file (mode 0600; never overwrites) and print its fingerprint',
    )
    .requiredOption('--out <file>', 'where to write the new identity')
    .option('--json', 'print {"fingerprint": ...} instead of text')
    .action((opts: { out: string; json?: boolean }) => {
      const id = Identity.generate();
      try {
        saveIdentity(opts.out, id);
      } catch (e) {
        throw asCliError(e);
      }
      printFingerprint(id, opts.json === true);
    });

  identity
    .command('show')
    .description('print the fingerprint of an identity file')
    .argument('<file>', 'identity file')
    .option('--json', 'print {"fingerprint": ...} instead of text')
    .action((file: string, opts: { json?: boolean }) => {
      let id: Identity;
      try {
        id = loadIdentity(file);
      } catch (e) {
        throw asCliError(e);
      }
      printFingerprint(id, opts.json === true);
    });
}

function printFingerprint(id: Identity, json: boolean): void {
  if (json) {
    process.stdout.write(
      JSON.stringify({ fingerprint: id.fingerprint, grouped: formatFingerprint(id.fingerprint) }) +
        '\n',
    );
  } else {
    process.stdout.write(`${id.fingerprint}\n`);
  }
}

export function asCliError(e: unknown): Error {
  if (e instanceof IdentityError) return new CliError(e.message, 2);
  return e instanceof Error ? e : new Error(String(e));
}
