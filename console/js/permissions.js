// What the signed-in caller may do (GET /api/session), to leave out what their role may not, and say
// why: elements marked data-command="<Command>" or data-route="<METHOD path>". The server refuses
// those anyway (403); this spares the caller the attempt.
//
// - a page link the role may not read: hidden (its page could show nothing);
// - a button: disabled, with the reason on hover (title) and for screen readers (aria-describedby);
// - a form or section: its controls disabled the same way, and the reason shown above them.
import { request, token } from './api.js';
import { h } from './dom.js';

let session = null;
let sessionToken = null;

/** The caller's session, fetched again when the token changes; null when it cannot be read. */
export async function loadSession() {
  const current = token();
  if (session && sessionToken === current) return session;
  sessionToken = current;
  document.getElementById('permission-reasons')?.remove(); // the reasons of the caller before
  try {
    session = await request('/api/session');
  } catch {
    session = null;
  }
  return session;
}

/** Whether the caller may use a route (`GET /api/audit`) or send a command; true while the session is unknown. */
export function may(key) {
  if (!session) return true;
  return key.includes(' ') ? session.routes.includes(key) : session.commands.includes(key);
}

/** The session's sentence for what the caller may not do, or a plain one. */
function reasonFor(key) {
  return session.denied?.[key] ?? `${session.actor} (role ${session.roles.join(', ') || 'none'}) may not ${key}.`;
}

/** One element per reason, referred to by aria-describedby (hidden: read out, not shown twice). */
function reasonId(key) {
  const id = `denied-${key.replace(/[^A-Za-z0-9]+/g, '-')}`;
  if (!document.getElementById(id)) {
    let holder = document.getElementById('permission-reasons');
    if (!holder) document.body.append((holder = h('div', { id: 'permission-reasons', hidden: true })));
    holder.append(h('p', { id }, reasonFor(key)));
  }
  return id;
}

function describeBy(control, id) {
  const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
  if (!ids.includes(id)) control.setAttribute('aria-describedby', [id, ...ids].join(' '));
}

function deny(element, key) {
  if (element.dataset.denied === key) return; // already done: the observer calls again after each redraw
  if (element.parentElement?.closest(`[data-denied="${CSS.escape(key)}"]`)) return; // said once, on the outer one
  element.dataset.denied = key;
  const reason = reasonFor(key);
  const id = reasonId(key);
  element.title = reason;
  const controls = element.matches('button, input, select, textarea') ? [element] : [...element.querySelectorAll('button, input, select, textarea')];
  for (const control of controls) {
    control.disabled = true;
    control.title = reason;
    describeBy(control, id);
  }
  if (!element.matches('button, input, select, textarea, h1, h2, h3, h4')) {
    const note = h('p', { class: 'notice permission', role: 'note' }, reason);
    const heading = element.querySelector(':scope > h2, :scope > h3');
    if (heading) heading.after(note);
    else element.prepend(note);
  }
}

/** Under `root`, leaves out what the caller's roles may not do; everything stays while the session is unknown. */
export function applyPermissions(root) {
  if (!session) return;
  for (const element of root.querySelectorAll('[data-command]')) {
    if (!session.commands.includes(element.dataset.command)) deny(element, element.dataset.command);
  }
  for (const element of root.querySelectorAll('[data-route]')) {
    const allowed = session.routes.includes(element.dataset.route);
    if (element.closest('nav')) {
      const item = element.closest('li') ?? element;
      item.hidden = !allowed;
    } else if (!allowed) deny(element, element.dataset.route);
  }
}
