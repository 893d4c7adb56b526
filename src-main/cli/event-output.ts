// What long-running commands print on stdout: one JSON object per line with --json (the contract
// outside checks read), or a human sentence per event otherwise.
export class EventOutput {
  constructor(readonly json: boolean) {}

  event(
    name: string,
    data: Record<string, unknown>,
    human: (data: Record<string, unknown>) => string,
  ): void {
    if (this.json) process.stdout.write(JSON.stringify({ event: name, ...data }) + '\n');
    else process.stdout.write(human(data) + '\n');
  }
}
