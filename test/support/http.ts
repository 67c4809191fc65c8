import * as http from 'node:http';
import { TEST_ADMIN_TOKEN } from './server';

/** `Authorization` for a token: the test admin token unless one is given; null sends none. */
export function bearer(token: string | null = TEST_ADMIN_TOKEN): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

export interface CommandResponse {
  readonly status: number;
  readonly headers: Headers;
  // The API's JSON; tests look into it freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** Headers every test request carries: the test admin's credentials. */
export function requestHeaders(): Record<string, string> {
  return bearer();
}

/** `GET <path>` (e.g. `/health`, `/api/projections`) through the same headers as `command()`. */
export async function getJson(baseUrl: string, pathAndQuery: string): Promise<CommandResponse> {
  const response = await fetch(`${baseUrl}${pathAndQuery}`, { headers: requestHeaders() });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, headers: response.headers, body };
}

/** `POST /api/commands/<name>` with a JSON body (a string is sent as it is), as the test admin unless `token` says otherwise. */
export async function command(
  baseUrl: string,
  name: string,
  body: unknown,
  options: { headers?: Record<string, string>; query?: string; token?: string | null } = {},
): Promise<CommandResponse> {
  const response = await fetch(`${baseUrl}/api/commands/${name}${options.query ? `?${options.query}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(options.token), ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** The seed's starting point: contoso.com, a Lync 2010 Group Chat pool reached through sip:ocschat@contoso.com, and pcpool. */
export async function seedTopology(baseUrl: string, deployment = 'default'): Promise<void> {
  const steps: [string, object][] = [
    ['RegisterSipDomain', { domain: 'contoso.com' }],
    ['DefineLegacyGroupChatPool', { fqdn: 'gc.contoso.com', version: 'Lync2010', wellKnownSipAddress: 'sip:ocschat@contoso.com' }],
    ['InstallPersistentChatPool', { fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com'] }],
  ];
  for (const [name, body] of steps) {
    const result = await command(baseUrl, name, { ...body, deployment });
    if (result.status !== 200) throw new Error(`${name} failed: ${JSON.stringify(result.body)}`);
  }
}

/**
 * GET a JSON document on a connection of its own. After a `spawnSync` has blocked the test's event
 * loop for longer than the server's keep-alive timeout, a pooled `fetch` connection may already be
 * closed by the server without the pool knowing it yet ("other side closed").
 */
export function getJsonFresh(url: string, headers: Record<string, string> = bearer()): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch (error) {
            reject(error);
          }
        });
      })
      .on('error', reject);
  });
}

/** `GET <path>` as the test admin (or with `token`; null sends none), the answer parsed as JSON. */
export async function get(baseUrl: string, pathAndQuery: string, token: string | null = TEST_ADMIN_TOKEN): Promise<CommandResponse> {
  const response = await fetch(`${baseUrl}${pathAndQuery}`, { headers: bearer(token) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
