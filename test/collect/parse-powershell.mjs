// Parses PowerShell files with the tree-sitter PowerShell grammar (an ES module with top-level await,
// so it runs in its own process): prints each file's syntax errors, exits 1 when there are any.
import fs from 'node:fs';
import Parser from 'tree-sitter';
import PowerShell from 'tree-sitter-powershell';

const parser = new Parser();
parser.setLanguage(PowerShell);
let failed = false;
for (const file of process.argv.slice(2)) {
  const tree = parser.parse(fs.readFileSync(file, 'utf8'));
  const errors = [];
  const visit = (node) => {
    if (node.type === 'ERROR' || node.isMissing) errors.push(`${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${node.isMissing ? 'missing ' + node.type : 'syntax error'}`);
    for (const child of node.children) visit(child);
  };
  visit(tree.rootNode);
  if (errors.length > 0 || tree.rootNode.hasError) {
    failed = true;
    console.log(errors.join('\n') || `${file}: syntax error`);
  }
}
process.exit(failed ? 1 : 0);
