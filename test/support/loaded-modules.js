// Preloaded with `node -r`: at exit, writes the packages the process loaded from node_modules to the
// file named by LOADED_MODULES_FILE, one name a line.
const fs = require('node:fs');

process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const at = file.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const parts = file.slice(at + 'node_modules/'.length).split('/');
    packages.add(parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]);
  }
  fs.writeFileSync(process.env.LOADED_MODULES_FILE, [...packages].sort().join('\n'));
});
