import { serve } from '../main';
import { rebuildProjections } from './projections';
import { auditCommand, keysCommand, reportCommand } from './audit';
import { PRODUCT_VERSION } from '../version';
import { ConfigError } from '../config/config';
import { StoreFileError } from '../event-store/sqlite/sqlite-schema';
import { connect } from './api-client';
import { readWords } from './cmdlet-parser';
import { cmdletSyntax, CMDLETS, GlobalOptions, looksLikeCmdlet, prepareCmdlet, PreparedCmdlet, renderError, renderOutcome, runCmdlet } from './cmdlets';
import { MIGRATE_USAGE, runMigrate } from './migrate';
import { READ_USAGE, runRead } from './read';
import { runScript } from './script';
import { tokensCommand } from './tokens';

const USAGE = `usage: topo <command>

  serve                                   serve the API (configuration from the environment, see README)
  projections rebuild [name] [--server URL]
                                          replay the log into new read-model tables, with progress
${READ_USAGE}
  audit verify [--witness FILE --public-key FILE] [--all] [--digest <position>:<hash>] [--json]
                                          check every link of the log's hash chain, against every signed
                                          checkpoint of the witness (and a saved digest)
  audit verify --server URL [--token T] [--all] [--json]
                                          the server's own verification, with its progress
  audit digest [--server URL] [--token T] [--json]
                                          the store-wide digest to keep
  keys create FILE                        an Ed25519 key pair for AUDIT_KEY_FILE (FILE, FILE.pub)
  report compliance --from T --to T [--format json|csv|html] [--deployment NAME] [--output FILE] [--server URL] [--token T]
                                          the compliance report of a period
  run <file.ps1> [-WhatIf]                run a script of cmdlet lines as one batch; stops at the first failure
  migrate plan|run|step|fail|rollback|status|runbook ...
                                          plan, run and roll back a migration from legacy Group Chat (topo migrate --help)
  tokens create --name NAME --role ROLE [--expires TIME|DURATION]
                                          create an API token (admin, operator, auditor, reader); shown once
  tokens list | tokens revoke <id|name>   list API tokens, revoke one
  <Verb-Noun> [-Parameter value ...]      a Lync Management Shell cmdlet line, verbatim; <cmdlet> -? for its syntax
  version      print the version
  help         this text

Cmdlets: ${CMDLETS.map((c) => c.name).join(', ')}
Options for cmdlets, run and tokens, anywhere on the line:
  --server URL       through the HTTP API of a server (default: the store in DATA_DIR, in this process)
  --token TOKEN      API token or OIDC JWT for the server (default: TOPO_TOKEN; locally, without one,
                     the OS user acts as an admin)
  --json             machine-readable output
  --reason TEXT      the change's reason or ticket (default: TOPO_REASON)
  --deployment NAME  the deployment (default: default)`;

/** Entry point of the `topo` binary; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  // `--help` on any of the product's own commands: its usage (cmdlet lines take `-?`).
  if (command !== undefined && !looksLikeCmdlet(command) && argv.slice(1).some((a) => a === '--help' || a === '-h')) {
    console.log(command === 'migrate' ? MIGRATE_USAGE : USAGE);
    return 0;
  }
  switch (command) {
    case 'serve':
      await serve();
      return 0;
    case 'audit':
      // `audit verify|digest` check the hash chain; `audit [filters]` lists the trail.
      if (argv[1] === 'verify' || argv[1] === 'digest') return auditCommand(argv.slice(1));
      return productCommand(command, argv.slice(1), (rest, options, open) => runRead(command, rest, options, open));
    case 'history':
    case 'diff':
      return productCommand(command, argv.slice(1), (rest, options, open) => runRead(command, rest, options, open));
    case 'projections': {
      const rest = argv.slice(1);
      if (rest[0] === 'status') return productCommand('projections', rest, (r, options, open) => runRead('projections', r, options, open));
      const serverAt = rest.indexOf('--server');
      const server = serverAt >= 0 ? rest[serverAt + 1] : undefined;
      const positional = serverAt < 0 ? rest : rest.filter((_, i) => i !== serverAt && i !== serverAt + 1);
      if (positional[0] !== 'rebuild' || (serverAt >= 0 && server === undefined)) {
        console.error(`topo: usage: topo projections status | topo projections rebuild [name] [--server URL]`);
        return 2;
      }
      return rebuildProjections(positional[1], server);
    }
    case 'report':
      return reportCommand(argv.slice(1));
    case 'keys':
      return keysCommand(argv.slice(1));
    case 'run':
      return runScriptCommand(argv.slice(1));
    case 'migrate':
      return productCommand('migrate', argv.slice(1), runMigrate, MIGRATE_USAGE);
    case 'tokens': {
      let parsed: { options: GlobalOptions; rest: string[] };
      try {
        parsed = globalOptions(argv.slice(1));
      } catch (error) {
        console.error(`topo tokens: ${(error as Error).message}`);
        return 2;
      }
      try {
        return await tokensCommand(parsed.rest, parsed.options);
      } catch (error) {
        return connectionFailure(error);
      }
    }
    case 'version':
    case '--version':
      console.log(PRODUCT_VERSION);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      if (looksLikeCmdlet(command)) return runCmdletLine(argv);
      console.error(`topo: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}


/** Takes `--server URL`, `--token TOKEN`, `--json`, `--reason TEXT`, `--deployment NAME` (also `--name=value`) out of the arguments. */
export function globalOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { options: GlobalOptions; rest: string[] } {
  const rest: string[] = [];
  const values: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--(server|token|reason|deployment)(?:=(.*))?$/s.exec(arg);
    if (match) {
      const value = match[2] ?? argv[++i];
      if (value === undefined) throw new Error(`--${match[1]!} needs a value`);
      values[match[1]!] = value;
    } else if (arg === '--json') json = true;
    else rest.push(arg);
  }
  const reason = values['reason'] ?? (env['TOPO_REASON'] || undefined);
  const token = values['token'] ?? (env['TOPO_TOKEN'] || undefined);
  return { options: { json, server: values['server'], token, reason, deployment: values['deployment'] }, rest };
}

/** The process arguments as words of a cmdlet line: an argument the shell kept whole, spaces and all, is one string. */
function wordsOf(argv: readonly string[]): string[] {
  return argv.map((arg) => (/\s/.test(arg) && !/^[@'"]/.test(arg) && !/^-[A-Za-z]\w*:/.test(arg) ? `'${arg.replace(/'/g, "''")}'` : arg));
}

async function connectFor(options: GlobalOptions): ReturnType<typeof connect> {
  return connect(options.server, process.env, options.token);
}

/** Failing to open the store or read the configuration: one line, exit 2. */
function connectionFailure(error: unknown): number {
  if (error instanceof ConfigError || error instanceof StoreFileError) {
    console.error(`topo: ${error.message}`);
    return 2;
  }
  throw error;
}

async function runCmdletLine(argv: readonly string[]): Promise<number> {
  let options: GlobalOptions = { json: false };
  let prepared: PreparedCmdlet;
  try {
    const parsed = globalOptions(argv);
    options = parsed.options;
    if (parsed.rest.slice(1).some((a) => a === '-?' || a === '--help')) {
      console.log(cmdletSyntax(parsed.rest[0]!));
      return 0;
    }
    prepared = prepareCmdlet(readWords(wordsOf(parsed.rest)), options);
  } catch (error) {
    const text = renderError(error, undefined, options.json);
    if (options.json) console.log(text);
    else console.error(text);
    return 2;
  }
  let connection;
  try {
    connection = await connectFor(options);
  } catch (error) {
    return connectionFailure(error);
  }
  try {
    const outcome = await runCmdlet(prepared, connection.client, { reason: options.reason });
    const { stdout, stderr } = renderOutcome(outcome, options.json);
    if (stderr) console.error(stderr);
    if (stdout) console.log(stdout);
    return 0;
  } catch (error) {
    const text = renderError(error, prepared.cmdlet, options.json);
    if (options.json) console.log(text);
    else console.error(text);
    return 1;
  } finally {
    await connection.close();
  }
}

type ProductCommand = (rest: string[], options: GlobalOptions, open: () => ReturnType<typeof connect>) => Promise<number>;

/** A product command (`topo migrate|history|diff|audit|projections status`): global options out, then `run` with a connection on demand. */
async function productCommand(name: string, argv: readonly string[], run: ProductCommand, usage = ''): Promise<number> {
  let parsed: { options: GlobalOptions; rest: string[] };
  try {
    parsed = globalOptions(argv);
  } catch (error) {
    console.error(`topo ${name}: ${(error as Error).message}${usage ? `\n\n${usage}` : ''}`);
    return 2;
  }
  try {
    return await run(parsed.rest, parsed.options, () => connectFor(parsed.options));
  } catch (error) {
    return connectionFailure(error);
  }
}

async function runScriptCommand(argv: readonly string[]): Promise<number> {
  let parsed: { options: GlobalOptions; rest: string[] };
  try {
    parsed = globalOptions(argv);
  } catch (error) {
    console.error(`topo run: ${(error as Error).message}`);
    return 2;
  }
  const whatIf = parsed.rest.some((a) => /^-whatif(:\$true)?$/i.test(a));
  const files = parsed.rest.filter((a) => !/^-whatif(:\$(true|false))?$/i.test(a));
  if (files.length !== 1) {
    console.error('topo: usage: topo run <file.ps1> [-WhatIf] [--server URL] [--json] [--reason TEXT] [--deployment NAME]');
    return 2;
  }
  try {
    return await runScript(files[0]!, whatIf, parsed.options, () => connectFor(parsed.options));
  } catch (error) {
    return connectionFailure(error);
  }
}
