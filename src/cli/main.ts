// Each command loads only the modules it needs, when it runs: `topo version`, `help` and a cmdlet line
// sent to a server start in a fraction of the time the server's modules (Nest, SQLite) would take.
import { randomUUID } from 'node:crypto';
import { PRODUCT_VERSION } from '../version';
import type { connect } from './api-client';
import type { GlobalOptions } from './cmdlets';
import type { PreparedLine } from './pipeline';
import { terminalBlock, terminalError, terminalJsonText, terminalSafe } from './terminal';

/** The usage text; it lists the cmdlets, so it loads their definitions. */
async function usage(): Promise<string> {
  const { CMDLETS } = await import('./cmdlets');
  const { READ_USAGE } = await import('./read');
  const { OBSERVE_USAGE } = await import('./observe');
  return `usage: topo <command>

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
  store backup FILE | store restore FILE   a verified online copy of the SQLite store; restore one into an empty DATA_DIR
  store copy --to esdb://... [--from-start] every event to EventStoreDB / KurrentDB, resumable, verified at the end
  report compliance --from T --to T [--format json|csv|html] [--deployment NAME] [--output FILE] [--server URL] [--token T]
                                          the compliance report of a period
${OBSERVE_USAGE}
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
  --deployment NAME  the deployment (default: default)
  --verbose          say where each command goes (the server running on DATA_DIR, or this process)`;
}

/** Does the word name a cmdlet (`Verb-Noun`), rather than one of the product's own subcommands? */
async function looksLikeCmdlet(word: string | undefined): Promise<boolean> {
  return (await import('./cmdlets')).looksLikeCmdlet(word);
}

/** Entry point of the `topo` binary; resolves with the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  guardPipes();
  const argv = args.filter((a) => a !== '--verbose');
  if (argv.length !== args.length) (await import('./api-client')).setVerbose(true);
  const [command] = argv;
  // `--help` on any of the product's own commands: its usage (cmdlet lines take `-?`).
  if (command !== undefined && argv.slice(1).some((a) => a === '--help' || a === '-h') && !(await looksLikeCmdlet(command))) {
    console.log(command === 'migrate' ? (await import('./migrate')).MIGRATE_USAGE : await usage());
    return 0;
  }
  switch (command) {
    case 'serve':
      await (await import('../main')).serve();
      return 0;
    case 'audit':
      // `audit verify|digest` check the hash chain; `audit [filters]` lists the trail.
      if (argv[1] === 'verify' || argv[1] === 'digest') return (await import('./audit')).auditCommand(argv.slice(1));
      return productCommand(command, argv.slice(1), async (rest, options, open) => (await import('./read')).runRead(command, rest, options, open));
    case 'history':
    case 'diff':
      return productCommand(command, argv.slice(1), async (rest, options, open) => (await import('./read')).runRead(command, rest, options, open));
    case 'projections': {
      const rest = argv.slice(1);
      if (rest[0] === 'status') return productCommand('projections', rest, async (r, options, open) => (await import('./read')).runRead('projections', r, options, open));
      const serverAt = rest.indexOf('--server');
      const server = serverAt >= 0 ? rest[serverAt + 1] : undefined;
      const positional = serverAt < 0 ? rest : rest.filter((_, i) => i !== serverAt && i !== serverAt + 1);
      if (positional[0] !== 'rebuild' || (serverAt >= 0 && server === undefined)) {
        console.error(`topo: usage: topo projections status | topo projections rebuild [name] [--server URL]`);
        return 2;
      }
      return (await import('./projections')).rebuildProjections(positional[1], server);
    }
    case 'report':
      return (await import('./audit')).reportCommand(argv.slice(1));
    case 'keys':
      return (await import('./audit')).keysCommand(argv.slice(1));
    case 'store':
      return (await import('./store')).storeCommand(argv.slice(1));
    case 'run':
      return runScriptCommand(argv.slice(1));
    case 'migrate': {
      const { MIGRATE_USAGE, runMigrate } = await import('./migrate');
      return productCommand('migrate', argv.slice(1), runMigrate, MIGRATE_USAGE);
    }
    case 'observe':
    case 'drift':
    case 'adopt': {
      const { OBSERVE_USAGE, runObserve } = await import('./observe');
      return productCommand(command, argv.slice(1), (rest, options, open) => runObserve(command, rest, options, open), OBSERVE_USAGE);
    }
    case 'tokens': {
      let parsed: { options: GlobalOptions; rest: string[] };
      try {
        parsed = globalOptions(argv.slice(1));
      } catch (error) {
        console.error(`topo tokens: ${terminalSafe((error as Error).message)}`);
        return 2;
      }
      try {
        return await (await import('./tokens')).tokensCommand(parsed.rest, parsed.options);
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
      console.log(await usage());
      return 0;
    default:
      if (await looksLikeCmdlet(command)) return runCmdletLine(argv);
      // A whole line in one argument, as pasted inside quotes: `topo 'Get-X | Remove-X'`.
      if (/\s/.test(command) && (await looksLikeCmdlet(command.trim().split(/\s+/)[0]))) {
        return runCmdletLine(argv, (await import('./cmdlet-parser')).tokenize(command));
      }
      console.error(`topo: unknown command '${terminalSafe(command)}'\n\n${await usage()}`);
      return 2;
  }
}


/** Takes `--server URL`, `--token TOKEN`, `--json`, `--reason TEXT`, `--deployment NAME` (also `--name=value`) out of the arguments. */
export function globalOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { options: GlobalOptions; rest: string[]; optionWords: string[] } {
  const rest: string[] = [];
  const optionWords: string[] = [];
  const values: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--(server|token|reason|deployment)(?:=(.*))?$/s.exec(arg);
    if (match) {
      const value = match[2] ?? argv[++i];
      if (value === undefined) throw new Error(`--${match[1]!} needs a value`);
      values[match[1]!] = value;
      optionWords.push(`--${match[1]!}`, value);
    } else if (arg === '--json') {
      json = true;
      optionWords.push(arg);
    } else rest.push(arg);
  }
  const reason = values['reason'] ?? (env['TOPO_REASON'] || undefined);
  const token = values['token'] ?? (env['TOPO_TOKEN'] || undefined);
  return { options: { json, server: values['server'], token, reason, deployment: values['deployment'] }, rest, optionWords };
}

/**
 * The process arguments as words of a cmdlet line: an argument the shell kept whole, spaces and all, is
 * one string. So is an argument that begins with `<`: bash would have read an unquoted `<` as a
 * redirection, so it came in quotes bash removed (a page's placeholder, `"<backend-FQDN\instance-name>"`),
 * and is read as the string it was, to be refused as a placeholder rather than as PowerShell's reserved `<`.
 */
function wordsOf(argv: readonly string[]): string[] {
  return argv.flatMap(parameterAndValue).map((arg) =>
    (/\s/.test(arg) && !/^[@'"{\u201C\u201D\u2018\u2019]/.test(arg) && !/^-[A-Za-z]\w*:/.test(arg)) || arg.startsWith('<') ? `'${arg.replace(/'/g, "''")}'` : arg,
  );
}

/**
 * `-Identity<no-break space>sip:a@b` arrives from bash as one argument (bash splits at spaces and tabs
 * only), where PowerShell sees a parameter and its value: a parameter's name holds no space, so the
 * argument is cut after it. A value on its own keeps its spaces, as quotes may have held them.
 */
function parameterAndValue(arg: string): string[] {
  const match = /^(-[A-Za-z][\w-]*)[\u0085\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+(.+)$/su.exec(arg);
  return match ? [match[1]!, match[2]!] : [arg];
}

/**
 * A reader that goes away (`topo Get-X | head -1`, or a PowerShell pipe pasted into bash, where bash
 * pipes to a program named Remove-X) closes stdout: EPIPE. Said in one line, not a stack trace.
 */
function guardPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      if (stream === process.stdout) {
        try {
          process.stderr.write(
            'topo: the output pipe was closed (EPIPE). If this was a cmdlet pipeline, bash ran the part after | as a program of its own: ' +
              `put the whole line in single quotes (e.g. topo 'Get-CsPersistentChatState | Where-Object {$_.PoolState -eq "FailedOver"}') or in a script for topo run.\n`,
          );
        } catch {
          // stderr is gone too: nothing left to say it on.
        }
      }
      process.exit(process.exitCode ?? 1);
    });
  }
}

async function connectFor(options: GlobalOptions): ReturnType<typeof connect> {
  return (await import('./api-client')).connect(options.server, process.env, options.token);
}

/** Failing to open the store or read the configuration: one line, exit 2. */
function connectionFailure(error: unknown): number {
  // Loaded already when the error is one of theirs.
  const { ConfigError } = require('../config/config') as typeof import('../config/config');
  const { StoreFileError } = require('../event-store/event-store') as typeof import('../event-store/event-store');
  if (error instanceof ConfigError || error instanceof StoreFileError) {
    console.error(`topo: ${terminalSafe(error.message)}`);
    return 2;
  }
  throw error;
}

async function runCmdletLine(argv: readonly string[], lineWords?: readonly string[]): Promise<number> {
  const { renderError, renderOutcome } = await import('./cmdlets');
  const { cmdletSyntax, prepareLine, runLine } = await import('./pipeline');
  const { readPipeline } = await import('./cmdlet-parser');
  let options: GlobalOptions = { json: false };
  let prepared: PreparedLine;
  try {
    const parsed = globalOptions(lineWords ? argv.slice(1) : argv);
    options = parsed.options;
    const words = lineWords ? [...lineWords, ...wordsOf(parsed.rest)] : wordsOf(parsed.rest);
    if (words.slice(1).some((a) => a === '-?' || a === '--help')) {
      console.log(cmdletSyntax(words[0]!));
      return 0;
    }
    if (!lineWords) {
      // Words as a shell split them: say what bash did to the line rather than misread its pieces.
      const split = (await import('./shell-split')).shellSplitError(parsed.rest, parsed.optionWords);
      if (split) throw split;
    }
    try {
      prepared = prepareLine(readPipeline(words), options);
    } catch (error) {
      // A value parameter with nothing after it, typed into bash: most likely a `$Null` bash expanded to nothing.
      const details = error instanceof Error && (error as { code?: unknown }).code === 'MISSING_ARGUMENT' ? (error as { details?: { parameter?: unknown; takesNull?: unknown } }).details : undefined;
      const parameter = details?.takesNull === true ? details.parameter : undefined;
      const swallowed = !lineWords && typeof parameter === 'string'
        ? (await import('./shell-split')).swallowedValueError(parsed.rest, parameter, parsed.optionWords)
        : undefined;
      throw swallowed ?? error;
    }
  } catch (error) {
    printError(renderError(options.json ? error : terminalError(error), undefined, options.json), options.json);
    return 2;
  }
  let connection;
  try {
    connection = await connectFor(options);
  } catch (error) {
    return connectionFailure(error);
  }
  try {
    // The commands of a pipeline (one per object) share one correlation id, as a batch's do.
    const outcome = await runLine(prepared, connection.client, { reason: options.reason, ...(prepared.kind === 'pipeline' ? { correlationId: randomUUID() } : {}) });
    const failedSome = outcome.outcomes.some((o) => o.failed !== undefined);
    const rendered = outcome.outcomes.map((o) => renderOutcome(o, options.json));
    const stderr = rendered.map((r) => r.stderr).filter((t) => t !== '').join('\n');
    if (stderr) console.error(stderr);
    if (options.json) {
      const values = outcome.outcomes.map((o) => (o.failed !== undefined ? { error: JSON.parse(renderError(o.failed, undefined, true)).error } : (o.shown?.json ?? o.result ?? null)));
      const value = values.length === 1 ? values[0] : values;
      if (value !== null && value !== undefined) console.log(terminalJsonText(JSON.stringify(value, null, 2)));
    } else {
      const stdout = rendered.map((r) => r.stdout).filter((t) => t !== '').join('\n\n');
      if (stdout) console.log(stdout);
    }
    return failedSome && prepared.line.errorAction === 'Continue' ? 1 : 0;
  } catch (error) {
    // As in PowerShell: -ErrorAction SilentlyContinue or Ignore says nothing of the error and goes on.
    const action = prepared.line.errorAction;
    if (action === 'SilentlyContinue' || action === 'Ignore') return 0;
    printError(renderError(options.json ? error : terminalError(error), prepared.cmdlet, options.json), options.json);
    return 1;
  } finally {
    await connection.close();
  }
}

/** A rendered error: JSON on stdout with `--json`, else text on stderr; safe for a terminal either way. */
function printError(text: string, json: boolean): void {
  if (json) console.log(terminalJsonText(text));
  else console.error(terminalBlock(text));
}

type ProductCommand = (rest: string[], options: GlobalOptions, open: () => ReturnType<typeof connect>) => Promise<number>;

/** A product command (`topo migrate|history|diff|audit|projections status`): global options out, then `run` with a connection on demand. */
async function productCommand(name: string, argv: readonly string[], run: ProductCommand, usage = ''): Promise<number> {
  let parsed: { options: GlobalOptions; rest: string[] };
  try {
    parsed = globalOptions(argv);
  } catch (error) {
    console.error(`topo ${name}: ${terminalSafe((error as Error).message)}${usage ? `\n\n${usage}` : ''}`);
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
    console.error(`topo run: ${terminalSafe((error as Error).message)}`);
    return 2;
  }
  const whatIf = parsed.rest.some((a) => /^-whatif(:\$true)?$/i.test(a));
  const files = parsed.rest.filter((a) => !/^-whatif(:\$(true|false))?$/i.test(a));
  if (files.length !== 1) {
    console.error('topo: usage: topo run <file.ps1> [-WhatIf] [--server URL] [--json] [--reason TEXT] [--deployment NAME]');
    return 2;
  }
  try {
    return await (await import('./script')).runScript(files[0]!, whatIf, parsed.options, () => connectFor(parsed.options));
  } catch (error) {
    return connectionFailure(error);
  }
}
