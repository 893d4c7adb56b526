#!/usr/bin/env node
// The `wzp` command: registers the TypeScript loader and hands over to the CLI entry point, so
// `npx wzp` runs from a checkout without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src-main/cli/main.ts');
