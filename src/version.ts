import * as fs from 'node:fs';
import * as path from 'node:path';

/** The project root: the nearest directory above this file holding our package.json (src/ or dist/src/). */
export const PROJECT_ROOT: string = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === 'topology-ledger') return dir;
    if (path.dirname(dir) === dir) throw new Error('topology-ledger package.json not found above ' + __dirname);
  }
})();

export const PRODUCT_VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
