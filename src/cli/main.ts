import { serve } from '../main';
import { rebuildProjections } from './projections';
import { PRODUCT_VERSION } from '../version';

const USAGE = `usage: topo <command>

  serve                                   serve the API (configuration from the environment, see README)
  projections rebuild [name] [--server URL]
                                          replay the log into new read-model tables, with progress
  version      print the version
  help         this text`;

/** Entry point of the `topo` binary; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return 0;
    case 'projections': {
      const rest = argv.slice(1);
      const serverAt = rest.indexOf('--server');
      const server = serverAt >= 0 ? rest[serverAt + 1] : undefined;
      const positional = serverAt < 0 ? rest : rest.filter((_, i) => i !== serverAt && i !== serverAt + 1);
      if (positional[0] !== 'rebuild' || (serverAt >= 0 && server === undefined)) {
        console.error(`topo: usage: topo projections rebuild [name] [--server URL]`);
        return 2;
      }
      return rebuildProjections(positional[1], server);
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
      console.error(`topo: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
