import * as fs from 'node:fs';
import * as path from 'node:path';

/** In DATA_DIR while a server runs on it: how other processes (the CLI) find it instead of opening the store beside it. */
export const SERVER_FILE = 'server.json';

interface Announcement {
  readonly pid: number;
  readonly url: string;
  readonly startedAt: string;
  /** The server's local-session secret: whoever may read DATA_DIR may act as an OS-level admin. */
  readonly localSecret?: string;
}

/**
 * Records that this process serves `dataDir` at `url`, readable by its owner only; returns the
 * function that withdraws it.
 */
export function announceServer(dataDir: string, url: string, localSecret: string): () => void {
  const file = path.join(dataDir, SERVER_FILE);
  const announcement: Announcement = { pid: process.pid, url, startedAt: new Date().toISOString(), localSecret };
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, `${JSON.stringify(announcement)}\n`, { mode: 0o600 });
  return () => {
    try {
      const current = JSON.parse(fs.readFileSync(file, 'utf8')) as Announcement;
      if (current.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      // Already gone, or replaced by another server: nothing of ours to withdraw.
    }
  };
}

/** The URL of a live server on `dataDir`, if any (a file left by a killed server is ignored). */
export function runningServer(dataDir: string): { url: string; pid: number; localSecret: string | undefined } | undefined {
  let announcement: Announcement;
  try {
    announcement = JSON.parse(fs.readFileSync(path.join(dataDir, SERVER_FILE), 'utf8')) as Announcement;
  } catch {
    return undefined;
  }
  if (announcement.pid === process.pid) return undefined;
  try {
    process.kill(announcement.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return { url: announcement.url, pid: announcement.pid, localSecret: typeof announcement.localSecret === 'string' ? announcement.localSecret : undefined };
}

/** A URL this machine can call for an interface the server bound. */
export function localUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
