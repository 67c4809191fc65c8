// The one way the console talks to the server: every request goes through request(), which adds the
// API token (when one is kept) and turns an error answer into an ApiError.

const TOKEN_KEY = 'topology-ledger.token';
const DEPLOYMENT_KEY = 'topology-ledger.deployment';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

const tokenListeners = new Set();

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const listener of tokenListeners) listener(token());
}

/** Called with the new token (or '') whenever the console signs in or out. */
export function onTokenChange(listener) {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

export function deployment() {
  return sessionStorage.getItem(DEPLOYMENT_KEY) || 'default';
}

export function setDeployment(value) {
  sessionStorage.setItem(DEPLOYMENT_KEY, value.trim().toLowerCase() || 'default');
}

/** An error answer: `{ error: { code, message, details } }` with its HTTP status. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? `HTTP_${status}`;
    this.details = error?.details ?? {};
  }
}

const unauthorizedListeners = new Set();

/** Called with the error whenever the server answers 401 (no or bad credentials). */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

function url(path, query) {
  const target = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') target.searchParams.set(name, String(value));
  }
  return target.pathname + target.search;
}

/**
 * Sends a request; resolves with the parsed JSON (or the Response itself with `raw: true`), rejects
 * with an ApiError on an error status.
 */
export async function request(path, { method = 'GET', query, body, headers, raw = false, signal } = {}) {
  const sent = new Headers(headers);
  const credential = token();
  if (credential) sent.set('authorization', `Bearer ${credential}`);
  if (body !== undefined) sent.set('content-type', 'application/json');
  const response = await fetch(url(path, query), {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
  });
  if (!response.ok) {
    let error;
    try {
      error = (await response.json()).error;
    } catch {
      error = { code: `HTTP_${response.status}`, message: `${response.status} ${response.statusText}` };
    }
    const failure = new ApiError(response.status, error);
    // A request sent before the sign-in and answered after it says nothing of the new token.
    if (response.status === 401 && credential === token()) for (const listener of unauthorizedListeners) listener(failure);
    throw failure;
  }
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}

/** A query of the current deployment. */
export function query(path, params = {}) {
  return request(path, { query: { deployment: deployment(), ...params } });
}

/** `POST /api/commands/<name>` in the current deployment; `whatIf` previews the events without appending. */
export function command(name, body, { whatIf = false } = {}) {
  return request(`/api/commands/${name}`, {
    method: 'POST',
    query: whatIf ? { whatIf: 'true' } : undefined,
    body: { deployment: deployment(), ...body },
  });
}

/** Downloads a server document through request() (so the token is sent) and saves it under `fileName`. */
export async function download(path, query, fileName) {
  const response = await request(path, { query, raw: true });
  const disposition = response.headers.get('content-disposition') ?? '';
  const named = /filename="([^"]+)"/.exec(disposition)?.[1];
  saveFile(await response.blob(), named ?? fileName);
}

/** Offers a blob (or text) to the browser as a file download. */
export function saveFile(content, fileName, type = 'text/plain;charset=utf-8') {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
