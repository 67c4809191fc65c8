#!/usr/bin/env node
// Builds dist/ when it is missing or older than any source file, so `npm start` works on a fresh clone.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const output = path.join(root, 'dist', 'src', 'main.js');
const sources = ['src', 'projections', 'bench', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newest(p) {
  if (!fs.existsSync(p)) return 0;
  const stat = fs.statSync(p);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(p).reduce((max, name) => Math.max(max, newest(path.join(p, name))), stat.mtimeMs);
}

const built = fs.existsSync(output) ? fs.statSync(output).mtimeMs : 0;
if (built === 0 || sources.some((s) => newest(path.join(root, s)) > built)) {
  console.error('topology-ledger: building...');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
    cwd: root,
  });
  fs.utimesSync(output, new Date(), new Date());
}
