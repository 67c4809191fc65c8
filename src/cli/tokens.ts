import type { JsonObject } from '../event-store/event-store';
import { ApiError, connect } from './api-client';
import type { GlobalOptions } from './cmdlets';
import { terminalJson, terminalSafe as safe } from './terminal';

export const TOKENS_USAGE = 'usage: topo tokens create --name NAME --role admin|operator|auditor|reader [--expires TIME|DURATION] | list | revoke <id|name>';

interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

/** Takes `--name value` / `--name=value` options of a tokens subcommand out of its arguments. */
function options(args: readonly string[], names: readonly string[]): { values: Map<string, string>; rest: string[] } {
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const match = /^--([a-z]+)(?:=(.*))?$/s.exec(args[i]!);
    if (match && names.includes(match[1]!)) {
      const value = match[2] ?? args[++i];
      if (value === undefined) throw new Error(`--${match[1]!} needs a value`);
      values.set(match[1]!, value);
    } else rest.push(args[i]!);
  }
  return { values, rest };
}

function state(token: TokenView, now: string): string {
  if (token.revokedAt !== null) return `revoked ${safe(token.revokedAt)}`;
  if (token.expiresAt !== null && token.expiresAt <= now) return `expired ${safe(token.expiresAt)}`;
  return token.expiresAt !== null ? `active until ${safe(token.expiresAt)}` : 'active';
}

/**
 * `topo tokens create|list|revoke`: through the API (`/api/tokens`), with `--server URL` or on the
 * local store in DATA_DIR as an OS-level admin. A created token's secret is printed once.
 */
export async function tokensCommand(args: readonly string[], global: GlobalOptions): Promise<number> {
  const [sub, ...rest] = args;
  let request: { method: 'GET' | 'POST' | 'DELETE'; path: string; body?: JsonObject };
  try {
    if (sub === 'create') {
      const { values, rest: left } = options(rest, ['name', 'role', 'expires']);
      const name = values.get('name');
      const role = values.get('role');
      if (name === undefined || role === undefined || left.length > 0) throw new Error('create needs --name and --role');
      const expires = values.get('expires');
      request = { method: 'POST', path: '/api/tokens', body: { name, role, ...(expires !== undefined ? { expires } : {}) } };
    } else if (sub === 'list' && rest.length === 0) {
      request = { method: 'GET', path: '/api/tokens' };
    } else if (sub === 'revoke' && rest.length === 1) {
      request = { method: 'DELETE', path: `/api/tokens/${encodeURIComponent(rest[0]!)}` };
    } else {
      throw new Error(sub === undefined ? 'a subcommand is needed' : `cannot read '${[sub, ...rest].join(' ')}'`);
    }
  } catch (error) {
    console.error(`topo tokens: ${safe((error as Error).message)}\n${TOKENS_USAGE}`);
    return 2;
  }

  const connection = await connect(global.server, process.env, global.token);
  try {
    const answer = await connection.client.send(request.method, request.path, request.body);
    if (global.json) {
      console.log(terminalJson(answer));
      return 0;
    }
    if (sub === 'create') {
      const token = answer['token'] as unknown as TokenView;
      console.error(`Created API token '${safe(token.name)}' (id ${safe(token.id)}, role ${safe(token.role)}${token.expiresAt ? `, expires ${safe(token.expiresAt)}` : ''}). It is shown this once:`);
      console.log(safe(answer['secret']));
    } else if (sub === 'list') {
      const now = new Date().toISOString();
      const tokens = answer['tokens'] as unknown as TokenView[];
      console.log(
        tokens
          .map((t) =>
            [`Id        : ${safe(t.id)}`, `Name      : ${safe(t.name)}`, `Role      : ${safe(t.role)}`, `Created   : ${safe(t.createdAt)} by ${safe(t.createdBy)}`, `State     : ${state(t, now)}`].join('\n'),
          )
          .join('\n\n'),
      );
    } else {
      const token = answer['token'] as unknown as TokenView;
      console.log(`Revoked API token '${safe(token.name)}' (id ${safe(token.id)}).`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const body = { error: { code: error.code, message: error.message, details: error.details } };
    if (global.json) console.log(terminalJson(body));
    else console.error(`topo: ${safe(error.code)}: ${safe(error.message)}`);
    return 1;
  } finally {
    await connection.close();
  }
}
