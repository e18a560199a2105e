#!/usr/bin/env node
import { runCli } from './cli/index.ts';

const code = await runCli(process.argv.slice(2));
if (process.argv[2] !== 'serve' || code !== 0) {
  // Every command but `serve` ends here, once its output is out. Exiting rather than waiting for
  // the event loop to drain: the schema engine leaves a 10 s timer behind after migrating.
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
