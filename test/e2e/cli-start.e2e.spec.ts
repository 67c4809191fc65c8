import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/**
 * `topo version`, `help` and a cmdlet line sent to a server must answer at once: they load none of the
 * server's modules (Nest, SQLite, the DTOs' validators). Checked by what the process loaded, which
 * does not depend on how busy the machine is; `npm run bench:cli` measures the time.
 */
const TOPO = path.join(ROOT, 'bin', 'topo.js');
const HOOK = path.join(ROOT, 'test', 'support', 'loaded-modules.js');
const SERVER_ONLY = ['@nestjs/core', '@nestjs/common', '@nestjs/swagger', 'better-sqlite3', 'class-validator', '@eventstore/db-client', 'rxjs'];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-cli-start-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function loadedBy(args: string[], env: Record<string, string> = {}): { packages: string[]; status: number | null; stdout: string; stderr: string } {
  const file = path.join(dir, `loaded-${Math.random().toString(36).slice(2)}`);
  const run = spawnSync(process.execPath, ['-r', HOOK, TOPO, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DATA_DIR: path.join(dir, 'data'), LOADED_MODULES_FILE: file, ...env },
  });
  return { packages: fs.readFileSync(file, 'utf8').split('\n').filter(Boolean), status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("the CLI's start", () => {
  it.each([[['version']], [['help']], [['migrate', '--help']]])('topo %j loads no server module', (args) => {
    const run = loadedBy(args);
    expect(run.status).toBe(0);
    expect(run.packages.filter((p) => SERVER_ONLY.includes(p))).toEqual([]);
  });

  describe('a cmdlet line sent to a server', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer({ DATA_DIR: path.join(dir, 'served') });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('answers without loading a server module', () => {
      const run = loadedBy(['Get-CsPersistentChatEndpoint', '--server', server.url], { TOPO_TOKEN: TEST_ADMIN_TOKEN });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.packages.filter((p) => SERVER_ONLY.includes(p))).toEqual([]);
    });

    it('checks the lines of a script as the API will, loading the validators but no HTTP or OpenAPI module', () => {
      const script = path.join(dir, 'refused.ps1');
      fs.writeFileSync(script, 'New-CsPersistentChatEndpoint -SipAddress persistentchat@contoso.com -PersistentChatPoolFqdn pcpool.contoso.com\n');
      const run = loadedBy(['run', script, '--server', server.url], { TOPO_TOKEN: TEST_ADMIN_TOKEN });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain('INVALID_SIP_ADDRESS');
      expect(run.stderr).toContain('nothing was run');
      expect(run.packages).toContain('class-validator');
      expect(run.packages.filter((p) => ['@nestjs/core', '@nestjs/common', '@nestjs/swagger', 'express'].includes(p))).toEqual([]);
    });

    it('says where it sends the command only with --verbose', () => {
      const env = { DATA_DIR: path.join(dir, 'served'), TOPO_TOKEN: TEST_ADMIN_TOKEN };
      const quiet = loadedBy(['Get-CsPersistentChatEndpoint'], env);
      expect(quiet.status).toBe(0);
      expect(quiet.stderr).toBe('');
      const verbose = loadedBy(['Get-CsPersistentChatEndpoint', '--verbose'], env);
      expect(verbose.status).toBe(0);
      expect(verbose.stderr).toMatch(/DATA_DIR is served by the server at http:\/\/127\.0\.0\.1:\d+/);
    });
  });
});
