// An expected failure of a command (bad input, missing file, refused connection): the CLI
// prints its one-line message without a stack and exits with its code.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
