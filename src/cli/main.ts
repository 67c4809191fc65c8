import { serve } from '../main';
import { PRODUCT_VERSION } from '../version';

const USAGE = `usage: topo <command>

  serve        serve the API and console (configuration from the environment, see README)
  version      print the version
  help         this text`;

/** Entry point of the `topo` binary; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return 0;
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
