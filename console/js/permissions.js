// What the signed-in caller may do (GET /api/session), to hide what their role may not: elements
// marked data-command="<Command>" or data-route="<METHOD path>". The server refuses those anyway.
import { request, token } from './api.js';

let session = null;
let sessionToken = null;

/** The caller's session, fetched again when the token changes; null when it cannot be read. */
export async function loadSession() {
  const current = token();
  if (session && sessionToken === current) return session;
  sessionToken = current;
  try {
    session = await request('/api/session');
  } catch {
    session = null;
  }
  return session;
}

/** Hides, under `root`, what the caller's roles may not do; shows everything while the session is unknown. */
export function applyPermissions(root) {
  if (!session) return;
  for (const element of root.querySelectorAll('[data-command]')) element.hidden = !session.commands.includes(element.dataset.command);
  for (const element of root.querySelectorAll('[data-route]')) (element.closest('li') ?? element).hidden = !session.routes.includes(element.dataset.route);
}
