// End-to-end suites run the real built process: build it once before any suite starts.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build-if-needed.js')], { stdio: 'inherit' });
};
