import type { INestApplication } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import { LOCAL_SESSION, LOCAL_USER_HEADER, type LocalSession } from '../application/local-session';
import { loadConfig } from '../config/config';
import { runningServer } from '../config/running-server';
import type { JsonObject, JsonValue } from '../event-store/event-store';

/** The API's refusal, `{ error: { code, message, details } }`, with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: JsonObject,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What a command answers: `{ commandId, deployment, events, position, warnings, whatIf? }`. */
export interface CommandResult {
  readonly commandId: string;
  readonly deployment: string;
  readonly events: ReadonlyArray<{ readonly type: string; readonly data: JsonObject; readonly streamId: string; readonly revision: number }>;
  readonly position: number | null;
  readonly warnings: ReadonlyArray<JsonValue>;
  readonly whatIf?: boolean;
}

export interface CommandOptions {
  readonly whatIf?: boolean;
  readonly reason?: string | undefined;
  readonly correlationId?: string | undefined;
}

/**
 * How a client proves who it is: an API token or OIDC JWT, or a local session's secret with the OS
 * user it runs as (an OS-level admin, recorded unverified).
 */
export type Credential = { readonly token: string } | { readonly localSecret: string; readonly osUser: string };

/** One client of the HTTP API, for the CLI's remote (`--server URL`) and local (in-process server) modes alike. */
export class ApiClient {
  private readonly auth: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    credential?: Credential,
  ) {
    this.auth =
      credential === undefined
        ? {}
        : 'token' in credential
          ? { authorization: `Bearer ${credential.token}` }
          : { authorization: `Bearer ${credential.localSecret}`, [LOCAL_USER_HEADER]: credential.osUser };
  }

  async command(name: string, body: JsonObject, options: CommandOptions = {}): Promise<CommandResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.reason) headers['x-reason'] = options.reason;
    if (options.correlationId) headers['x-correlation-id'] = options.correlationId;
    const query = options.whatIf ? '?whatIf=true' : '';
    return (await this.request('POST', `/api/commands/${encodeURIComponent(name)}${query}`, headers, JSON.stringify(body))) as unknown as CommandResult;
  }

  async query(path: string, params: Record<string, string | number | undefined> = {}): Promise<JsonObject> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
    const text = search.toString();
    return this.request('GET', `${path}${text ? `?${text}` : ''}`, {}, undefined);
  }

  /** A document that is not JSON (a runbook), as text; errors as for `query`. */
  async text(path: string): Promise<string> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, { headers: this.auth });
    } catch (error) {
      throw new ApiError(0, 'SERVER_UNREACHABLE', `cannot reach ${this.baseUrl}: ${error instanceof Error ? error.message : String(error)}`, {});
    }
    if (response.ok) return response.text();
    const failure = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: JsonObject } };
    throw new ApiError(response.status, failure.error?.code ?? `HTTP_${response.status}`, failure.error?.message ?? `GET ${path} answered ${response.status}`, failure.error?.details ?? {});
  }

  /** The log's head as the read side knows it: a query with `minPosition` of it reads every earlier write. */
  async headPosition(): Promise<number | undefined> {
    const { projections } = (await this.query('/api/projections')) as { projections?: Array<{ headPosition?: number | null }> };
    const heads = (projections ?? []).map((p) => p.headPosition).filter((h): h is number => typeof h === 'number' && h > 0);
    return heads.length > 0 ? Math.max(...heads) : undefined;
  }

  /** Posts a document as it is (a snapshot, a topology XML) with its media type. */
  async postDocument(path: string, contentType: string, document: Buffer, headers: Record<string, string> = {}): Promise<JsonObject> {
    return this.request('POST', path, { ...headers, 'content-type': contentType }, document);
  }

  /** Any other call of the API (`POST /api/tokens`, ...), with a JSON body when one is given. */
  async send(method: 'GET' | 'POST' | 'DELETE', path: string, body?: JsonObject): Promise<JsonObject> {
    return this.request(method, path, body === undefined ? {} : { 'content-type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
  }

  private async request(method: string, path: string, headers: Record<string, string>, body: string | Buffer | undefined): Promise<JsonObject> {
    let response: { status: number; ok: boolean; text: string };
    try {
      response = await httpRequest(`${this.baseUrl.replace(/\/+$/, '')}${path}`, method, { ...headers, ...this.auth }, body);
    } catch (error) {
      throw new ApiError(0, 'SERVER_UNREACHABLE', `cannot reach ${this.baseUrl}: ${error instanceof Error ? error.message : String(error)}`, {});
    }
    const text = response.text;
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ApiError(response.status, `HTTP_${response.status}`, `${method} ${path} answered ${response.status} with a body that is not JSON`, {});
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
    if (!response.ok || error !== undefined) {
      throw new ApiError(
        response.status,
        typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`,
        typeof error?.message === 'string' ? error.message : `${method} ${path} answered ${response.status}`,
        (error?.details ?? {}) as JsonObject,
      );
    }
    return parsed as JsonObject;
  }
}

/**
 * One HTTP request with node's own client (a CLI call makes one or two: `fetch` would first load and
 * set up its own HTTP stack, a noticeable part of a short command's time).
 */
function httpRequest(url: string, method: string, headers: Record<string, string>, body: string | Buffer | undefined): Promise<{ status: number; ok: boolean; text: string }> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(target, { method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A client and how to let go of what it holds. */
export interface Connection {
  readonly client: ApiClient;
  close(): Promise<void>;
}

/** The name of the OS user this process runs as, recorded as the actor of local changes. */
export function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'local';
  }
}

/**
 * With a server URL, a client of that server, with `token` (`--token`, `TOPO_TOKEN`). Without one,
 * the server running on DATA_DIR if there is one, else the product itself, in this process, on the
 * store in DATA_DIR (configuration from the environment, as `topo serve`), listening on an
 * ephemeral loopback port: local and remote commands take the very same path through the API.
 * Locally, without a token, the CLI is an OS-level admin (it could open the store file itself):
 * it uses the local session's secret and the actor recorded is the OS user, unauthenticated.
 */
let verbose = false;

/** `--verbose`: say on stderr where each command goes (the server running on DATA_DIR, or this process). */
export function setVerbose(on: boolean): void {
  verbose = on;
}

export async function connect(server: string | undefined, env: NodeJS.ProcessEnv = process.env, token: string | undefined = env['TOPO_TOKEN'] || undefined): Promise<Connection> {
  if (server !== undefined) return { client: new ApiClient(server, token !== undefined ? { token } : undefined), close: async () => undefined };
  const config = loadConfig(env);
  // A server already runs on this DATA_DIR: go through it rather than open the store and the read
  // models a second time beside it.
  const running = runningServer(config.dataDir);
  if (running !== undefined) {
    if (verbose) console.error(`topo: DATA_DIR is served by the server at ${running.url} (pid ${running.pid}); sending the command there`);
    const credential: Credential | undefined =
      token !== undefined ? { token } : running.localSecret !== undefined ? { localSecret: running.localSecret, osUser: osUser() } : undefined;
    return { client: new ApiClient(running.url, credential), close: async () => undefined };
  }
  // The product in this process: the server's modules are loaded only here.
  const { createApp } = await import('../app');
  const app: INestApplication = await createApp({ ...config, logLevel: config.logLevel === 'silent' ? 'silent' : 'error' });
  try {
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.getHttpServer().address() as { port: number };
  const credential: Credential = token !== undefined ? { token } : { localSecret: app.get<LocalSession>(LOCAL_SESSION).secret, osUser: osUser() };
  return { client: new ApiClient(`http://127.0.0.1:${address.port}`, credential), close: () => app.close() };
}
