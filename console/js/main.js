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
  current = await page.mount(main);
  await loadSession();
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

const liveStatus = document.getElementById('live-status');
followLive({
  onProgress: liveProgress,
  onState: (state) => {
    liveStatus.textContent = state === 'live' ? 'live' : 'offline';
    liveStatus.dataset.state = state;
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
}
onUnauthorized((error) => showSignIn(`${error.code}: ${error.message}`));
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
