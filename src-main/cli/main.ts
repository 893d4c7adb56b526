// The `wzp` command line (DESIGN.md's contract: outside checks drive it, so names and outputs
// are fixed). Each subcommand lives in its own module; this file only wires them to commander
// and turns every failure into one line on stderr and a non-zero exit.
import { Command, CommanderError } from 'commander';
import { registerIdentityCommands } from './identity-command.ts';
import { registerRelayCommand } from './relay-command.ts';
import { registerCallCommands } from './call-command.ts';
import { CliError } from './cli-error.ts';

const program = new Command();
program
  .name('wzp')
  .description(
    'wz-phone: end-to-end encrypted voice calls that go directly between desktops when the ' +
      'network allows, through a relay when it does not. Run "wzp help COMMAND" for details.',
  )
  .exitOverride()
  .configureOutput({
    // One line per error, in the same "wzp: ..." form as every other failure.
    outputError: (str, write) =>
      write(`wzp: ${str.replace(/^error: /, '').trim()} (see wzp --help)\n`),
  });

registerIdentityCommands(program);
registerRelayCommand(program);
registerCallCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Help exits with code 0 through this path; usage errors were already printed as one line.
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  if (e instanceof CliError) {
    process.stderr.write(`wzp: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`wzp: ${message.split('\n')[0]}\n`);
  process.exit(1);
}
