#!/usr/bin/env node
// The `topo` command: builds on first use in a checkout, then runs the compiled CLI.
require('../scripts/build-if-needed.js');
require('../dist/src/cli/main.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => { console.error(`topo: ${error instanceof Error ? error.message : String(error)}`); process.exitCode = 1; },
);
