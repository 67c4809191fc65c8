import { deployment, onUnauthorized, setDeployment, setToken, token } from './api.js';
import { followLive } from './live.js';
import { applyPermissions, loadSession } from './permissions.js';
import * as topology from './pages/topology.js';
import * as migration from './pages/migration.js';
import * as endpoints from './pages/endpoints.js';
import * as history from './pages/history.js';
import * as audit from './pages/audit.js';
import * as projections from './pages/projections.js';
import * as drift from './pages/drift.js';

// Each page: `title`, `projections` (the read models it shows; a move of one refetches it) and
// `mount(container)` returning `{ refresh(), dispose?() }`.
const PAGES = { topology, migration, endpoints, history, audit, projections, drift };

const main = document.getElementById('main');
let current;
let currentName;

async function route() {
  const name = location.hash.replace(/^#\/?/, '').split('?')[0] || 'topology';
  const page = PAGES[name] ?? topology;
  current?.dispose?.();
  currentName = name in PAGES ? name : 'topology';
  document.title = `${page.title} · topology-ledger console`;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${currentName}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren();
  // The session first: the page is drawn for the caller signed in now, not the one before.
  await loadSession();
  applyPermissions(document);
  current = await page.mount(main);
  applyPermissions(document);
  if (document.activeElement?.closest('nav')) main.focus();
}

// Pages redraw parts of themselves (live updates, outcomes): what the role may not do stays hidden.
new MutationObserver(() => applyPermissions(main)).observe(main, { childList: true, subtree: true });

// Live: refetch what the current page shows when a read model it reads from moved.
let pendingRefresh;
function liveProgress(moved) {
  const page = PAGES[currentName];
  if (!page || !current?.refresh) return;
  if (!Object.keys(moved).some((name) => page.projections.includes(name))) return;
  clearTimeout(pendingRefresh);
  pendingRefresh = setTimeout(() => void current.refresh({ live: true }), 100);
}

// The badge: a word to see, a sentence for screen readers ("live updates: connected"), and on hover
// what it means.
const LIVE_STATES = {
  connecting: { word: 'connecting', spoken: 'connecting', means: 'opening the stream of changes' },
  live: { word: 'live', spoken: 'connected', means: 'what this page shows refreshes itself when the data changes' },
  reconnecting: { word: 'reconnecting', spoken: 'reconnecting', means: 'the stream of changes was lost; trying again every 2 seconds' },
  off: { word: 'off', spoken: 'off', means: 'the server refused the credential; sign in to follow changes' },
};
const liveStatus = document.getElementById('live-status');
followLive({
  onProgress: liveProgress,
  onState: (state) => {
    const shown = LIVE_STATES[state];
    if (liveStatus.dataset.state === state) return;
    liveStatus.dataset.state = state;
    const word = liveStatus.querySelector('.live-word');
    word.textContent = shown.word;
    word.title = `Live updates: ${shown.spoken} (${shown.means}).`;
    liveStatus.querySelector('.sr-only').textContent = `live updates: ${shown.spoken}`;
  },
});

// Sign-in: the token lives in session storage; a 401 anywhere opens this form.
const signIn = document.getElementById('sign-in');
const signInReason = document.getElementById('sign-in-reason');
const signInToggle = document.getElementById('sign-in-toggle');
const tokenInput = document.getElementById('token');

function showSignIn(reason) {
  // Several requests may be refused at once: open the form (and take the focus) once.
  if (!signIn.hidden && signInReason.textContent === (reason ?? '')) return;
  signIn.hidden = false;
  signInReason.textContent = reason ?? '';
  signInReason.hidden = !reason;
  tokenInput.focus();
}
function updateSession() {
  signInToggle.textContent = token() ? 'Signed in' : 'Sign in';
  document.getElementById('sign-out').hidden = !token();
}
/** Why the sign-in opened, in one sentence (the server's own words name the header and the reason). */
function signInSentence(error) {
  const reason = error.details?.reason;
  if (reason === 'no credential') return token() ? 'Sign in again.' : 'This server needs an API token: paste yours below to sign in.';
  if (reason === 'unknown token') return 'The server does not know this token: check it and sign in again.';
  if (reason === 'token revoked') return 'This token has been revoked: ask an administrator for a new one.';
  if (reason === 'token expired') return 'This token has expired: ask an administrator for a new one.';
  return `The server refused this credential (${reason ?? error.message}): sign in again.`;
}
onUnauthorized((error) => showSignIn(signInSentence(error)));
signInToggle.addEventListener('click', () => (signIn.hidden ? showSignIn() : (signIn.hidden = true)));
document.getElementById('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(tokenInput.value.trim());
  tokenInput.value = '';
  signIn.hidden = true;
  updateSession();
  void route();
});
document.getElementById('sign-out').addEventListener('click', () => {
  setToken('');
  updateSession();
  showSignIn('Signed out.');
});

const deploymentInput = document.getElementById('deployment');
deploymentInput.value = deployment();
document.getElementById('deployment-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setDeployment(deploymentInput.value);
  deploymentInput.value = deployment();
  void route();
});

updateSession();
window.addEventListener('hashchange', () => void route());
void route();
