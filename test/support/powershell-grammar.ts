import * as fs from 'node:fs';
import { Language, type Node, Parser } from 'web-tree-sitter';

/**
 * A second reading of a script, by the PowerShell grammar of tree-sitter (the `tree-sitter-powershell`
 * package, run as WebAssembly): parse errors, the commands it would invoke, and where its comments and
 * string literals are. The grammar knows only the ASCII quote characters; the curly ones are checked
 * by `powershell-tokens.ts`, which follows PowerShell's own tokenizer.
 */
let loading: Promise<Parser> | undefined;

function parser(): Promise<Parser> {
  loading ??= (async () => {
    await Parser.init();
    // Loaded as bytes: given a path, web-tree-sitter reads it with a dynamic import Jest does not allow.
    const language = await Language.load(fs.readFileSync(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm')));
    const result = new Parser();
    result.setLanguage(language);
    return result;
  })();
  return loading;
}

export interface GrammarView {
  /** The text of every ERROR or MISSING node. */
  readonly errors: string[];
  /** The name of every command the script invokes, in order (pipelines and script blocks included). */
  readonly commands: string[];
  /** Character ranges PowerShell reads as data or as nothing: comments and string literals. */
  readonly inert: ReadonlyArray<readonly [number, number]>;
}

export async function grammarView(source: string): Promise<GrammarView> {
  const tree = (await parser()).parse(source)!;
  const errors: string[] = [];
  const commands: string[] = [];
  const inert: [number, number][] = [];
  // web-tree-sitter parses the JavaScript string as UTF-16: its indexes are the string's.
  const visit = (node: Node): void => {
    if (node.isError || node.isMissing) errors.push(node.text);
    if (node.type === 'command') commands.push(node.childForFieldName('command_name')?.text ?? node.text);
    if (node.type === 'comment' || node.type === 'string_literal') {
      inert.push([node.startIndex, node.endIndex]);
      return;
    }
    for (const child of node.children) if (child) visit(child);
  };
  visit(tree.rootNode);
  tree.delete();
  return { errors, commands, inert };
}

/** Every character of `payload`, wherever it occurs in `source`, lies in a comment or string literal of `view`. */
export function payloadInert(source: string, view: GrammarView, payload: string): boolean {
  for (let at = source.indexOf(payload); at >= 0; at = source.indexOf(payload, at + 1)) {
    if (!view.inert.some(([start, end]) => start <= at && at + payload.length <= end)) return false;
  }
  return true;
}
