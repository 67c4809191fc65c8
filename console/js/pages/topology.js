import { query } from '../api.js';
import { drawTopology, KIND_LABEL, poolChange, poolsOf, routeChange, routesOf } from '../diagram.js';
import { badge, breakable, errorBox, h, status, table } from '../dom.js';

export const title = 'Topology';
export const projections = ['topology', 'endpoint_directory'];

/** Items one to a line, in a cell: a narrow column wraps between them, not inside them. */
function lines(items) {
  return items.map((item) => h('span', { class: 'line' }, breakable(item)));
}

/** The pools and SIP URI tables, shared with the time-travel page (`changes`: see drawTopology). */
export function topologyTables(topology, { changes = new Map(), directory } = {}) {
  const mark = (change) => (change ? { class: `changed-${change}` } : {});
  const pools = table(
    'Pools',
    [
      { label: 'Pool', value: (p) => p.fqdn },
      { label: 'Kind', value: (p) => p.shortLabel },
      { label: 'Status · state', value: (p) => [badge(p.status), p.state ? ` ${p.state}` : ''] },
      { label: 'Servers', value: (p) => lines(p.servers.map((s) => `${s.fqdn}${s.active ? ' (active)' : ''}`)) },
      { label: 'Services', value: (p) => lines([...p.services, ...(p.note ? [p.note] : [])]) },
      ...(changes.size ? [{ label: 'Change', value: (p) => (poolChange(changes, p) ? badge(poolChange(changes, p)) : '') }] : []),
    ],
    poolsOf(topology),
    { rowAttributes: (p) => mark(poolChange(changes, p)) },
  );
  const rows = directory
    ? directory.map((e) => ({ sipAddress: e.sipAddress, kind: e.kind, poolFqdn: e.poolFqdn, displayName: e.displayName }))
    : routesOf(topology);
  const uris = table(
    'SIP URIs and the pool each reaches',
    [
      { label: 'SIP URI', value: (r) => r.sipAddress },
      { label: 'Kind', value: (r) => KIND_LABEL[r.kind] ?? r.kind },
      { label: 'Display name', value: (r) => r.displayName ?? '' },
      { label: 'Pool', value: (r) => r.poolFqdn ?? '' },
      ...(changes.size ? [{ label: 'Change', value: (r) => (routeChange(changes, r) ? badge(routeChange(changes, r)) : '') }] : []),
    ],
    rows,
    { rowAttributes: (r) => mark(routeChange(changes, r)) },
  );
  const domains = h(
    'p',
    { class: 'domains' },
    'SIP domains: ',
    (topology.sipDomains ?? []).length === 0 ? 'none' : topology.sipDomains.map((d) => `${d.domain}${d.isDefault ? ' (default)' : ''}`).join(', '),
  );
  // Focusable: a region that may scroll sideways must be reachable from the keyboard.
  return h('div', { class: 'tables', tabindex: 0, role: 'region', 'aria-label': 'Topology tables' }, domains, pools, uris);
}

export async function mount(container) {
  const heading = h('h1', {}, 'Topology');
  const where = status();
  const body = h('div', { class: 'split' });
  container.append(heading, where, body);

  async function refresh() {
    try {
      const [topology, directory] = await Promise.all([query('/api/topology'), query('/api/endpoints', { includeAll: 'true' })]);
      where.textContent = `Deployment ${topology.deployment}, log position ${topology.position ?? 'none yet'}.`;
      body.replaceChildren(
        h('section', { class: 'pane', 'aria-label': 'Diagram' }, drawTopology(topology)),
        h('section', { class: 'pane', 'aria-label': 'Tables' }, topologyTables(topology, { directory: directory.endpoints })),
      );
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  }
  await refresh();
  return { refresh };
}
