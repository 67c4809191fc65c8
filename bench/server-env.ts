import { randomBytes } from 'node:crypto';

/**
 * The admin token the benchmarks' servers start with. It is put in this process's environment as
 * `TOPO_TOKEN`, which the load client (in this process or a child) sends as its credential.
 */
export const BENCH_TOKEN = `bench-${randomBytes(24).toString('base64url')}`;
process.env['TOPO_TOKEN'] = BENCH_TOKEN;

/**
 * The environment of a benchmarked server: SQLite in `dataDir`, durable commits, the benchmark's
 * admin token, and a rate limit far above the load so that it is measured, never hit.
 */
export function benchServerEnv(dataDir: string, port = '0'): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: port,
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    SQLITE_SYNCHRONOUS: 'FULL',
    ADMIN_TOKEN: BENCH_TOKEN,
    RATE_LIMIT: '1000000',
  };
  delete env['EVENTSTORE_CONNECTION_STRING'];
  return env;
}
