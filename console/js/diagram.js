// The topology as a picture: which SIP URI reaches which pool. The tables beside it say the same in text.

import { h } from './dom.js';

/** Every SIP URI that reaches a pool, from a topology document. */
export function routesOf(topology) {
  const routes = [];
  for (const endpoint of topology.endpoints ?? []) {
    routes.push({ sipAddress: endpoint.sipAddress, kind: 'endpoint', poolFqdn: endpoint.poolFqdn, displayName: endpoint.displayName });
  }
  for (const principal of topology.principals ?? []) {
    if (principal.kind === 'wellKnownUser' && principal.legacyPoolFqdn) {
      routes.push({ sipAddress: principal.sipAddress, kind: 'wellKnownUser', poolFqdn: principal.legacyPoolFqdn, displayName: principal.displayName });
    }
  }
  for (const pool of topology.persistentChatPools ?? []) {
    if (pool.defaultContactSipAddress) routes.push({ sipAddress: pool.defaultContactSipAddress, kind: 'defaultPoolContact', poolFqdn: pool.fqdn, displayName: null });
  }
  return routes.sort((a, b) => a.poolFqdn.localeCompare(b.poolFqdn) || a.kind.localeCompare(b.kind) || a.sipAddress.localeCompare(b.sipAddress));
}

/** Both kinds of pool, legacy first, with what the picture and the tables show of them. */
export function poolsOf(topology) {
  return [
    ...(topology.legacyPools ?? []).map((p) => ({
      fqdn: p.fqdn,
      kind: 'legacy',
      label: `Legacy Group Chat (${p.version})`,
      shortLabel: `Legacy (${p.version})`,
      status: p.status,
      state: null,
      servers: [{ fqdn: p.services?.channel ?? p.fqdn, active: p.status === 'Started' }],
      services: Object.entries(p.services ?? {}).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`),
      note: p.dataMigratedTo ? `data migrated to ${p.dataMigratedTo}` : null,
    })),
    ...(topology.persistentChatPools ?? []).map((p) => ({
      fqdn: p.fqdn,
      kind: 'persistentChat',
      label: 'Persistent Chat',
      shortLabel: 'Persistent Chat',
      status: p.status,
      state: p.state,
      servers: p.servers ?? [],
      services: [`compliance ${p.complianceEnabled ? 'on' : 'off'}`, ...(p.site ? [`site ${p.site}`] : [])],
      note: p.singleServer ? 'single server' : null,
    })),
  ];
}

const KIND_LABEL = { endpoint: 'endpoint', wellKnownUser: 'well-known user', defaultPoolContact: 'default pool contact' };

/** The topology diff's entity behind a route of each kind (a default pool contact is its pool's). */
const ROUTE_ENTITY = { endpoint: 'endpoint', wellKnownUser: 'principal', defaultPoolContact: 'persistentChatPool' };
const POOL_ENTITY = { legacy: 'legacyPool', persistentChat: 'persistentChatPool' };

/** The key of an entity in a `changes` map: a principal and an endpoint may share a SIP URI. */
export function changeKey(entity, key) {
  return `${entity}:${key}`;
}

/** added | changed | undefined, for a route (`{ kind, sipAddress, poolFqdn }`) in `changes`. */
export function routeChange(changes, route) {
  if (route.kind !== 'defaultPoolContact') return changes.get(changeKey(ROUTE_ENTITY[route.kind], route.sipAddress));
  // The contact comes and goes with its pool; a change of the pool's state is not one of the contact.
  return changes.get(changeKey(ROUTE_ENTITY[route.kind], route.poolFqdn)) === 'added' ? 'added' : undefined;
}

/** added | changed | undefined, for a pool of poolsOf() in `changes`. */
export function poolChange(changes, pool) {
  return changes.get(changeKey(POOL_ENTITY[pool.kind], pool.fqdn));
}

/**
 * An SVG of SIP URIs (left) and pools (right) with a line from each URI to its pool. `changes` maps an
 * entity (changeKey: kind and SIP URI or pool FQDN) to `added` or `changed`, drawn highlighted.
 */
export function drawTopology(topology, { changes = new Map(), title = 'Which SIP URI reaches which pool' } = {}) {
  const routes = routesOf(topology);
  const pools = poolsOf(topology);
  const rowHeight = 46;
  const left = { x: 8, width: 362 };
  const right = { x: 482, width: 270 };
  const uriY = new Map();
  routes.forEach((route, i) => uriY.set(route.sipAddress, 16 + i * rowHeight));
  let y = 16;
  const poolBoxes = pools.map((pool) => {
    const height = 48 + pool.servers.length * 16;
    const box = { pool, y, height };
    y += height + 16;
    return box;
  });
  const height = Math.max(16 + routes.length * rowHeight, y, 80);
  const poolY = new Map(poolBoxes.map((b) => [b.pool.fqdn, b.y + b.height / 2]));
  const titleId = `diagram-title-${Math.random().toString(36).slice(2)}`;

  const svg = h(
    'svg:svg',
    { viewBox: `0 0 ${right.x + right.width + 8} ${height}`, role: 'img', 'aria-labelledby': titleId, class: 'diagram' },
    h('svg:title', { id: titleId }, `${title}: ${routes.map((r) => `${r.sipAddress} to ${r.poolFqdn}`).join('; ') || 'no SIP URI reaches a pool'}`),
  );
  for (const route of routes) {
    const from = uriY.get(route.sipAddress) + 17;
    const to = poolY.get(route.poolFqdn);
    if (to === undefined) continue;
    const x1 = left.x + left.width;
    const x2 = right.x;
    const change = routeChange(changes, route);
    svg.append(
      h('svg:path', {
        d: `M ${x1} ${from} C ${x1 + 70} ${from}, ${x2 - 70} ${to}, ${x2} ${to}`,
        class: `route route-${route.kind}${change ? ` changed-${change}` : ''}`,
      }),
    );
  }
  for (const route of routes) {
    const top = uriY.get(route.sipAddress);
    const change = routeChange(changes, route);
    svg.append(
      h(
        'svg:g',
        { class: `uri uri-${route.kind}${change ? ` changed-${change}` : ''}`, 'data-sip': route.sipAddress },
        h('svg:rect', { x: left.x, y: top, width: left.width, height: 34, rx: 6 }),
        h('svg:text', { x: left.x + 10, y: top + 15, class: 'uri-address' }, route.sipAddress),
        h('svg:text', { x: left.x + 10, y: top + 29, class: 'small' }, KIND_LABEL[route.kind]),
        change ? h('svg:text', { x: left.x + left.width - 10, y: top + 29, class: 'small change-label', 'text-anchor': 'end' }, change) : null,
      ),
    );
  }
  for (const { pool, y: top, height: boxHeight } of poolBoxes) {
    const change = poolChange(changes, pool);
    const group = h(
      'svg:g',
      { class: `pool pool-${pool.kind} status-${String(pool.status).toLowerCase()}${change ? ` changed-${change}` : ''}`, 'data-pool': pool.fqdn },
      h('svg:rect', { x: right.x, y: top, width: right.width, height: boxHeight, rx: 8 }),
      h('svg:text', { x: right.x + 10, y: top + 18, class: 'pool-name' }, pool.fqdn),
      h('svg:text', { x: right.x + 10, y: top + 35, class: 'small' }, `${pool.label} · ${pool.status}${pool.state ? ` · ${pool.state}` : ''}`),
      change ? h('svg:text', { x: right.x + right.width - 10, y: top + 18, class: 'small change-label', 'text-anchor': 'end' }, change) : null,
    );
    pool.servers.forEach((server, i) => {
      group.append(h('svg:text', { x: right.x + 22, y: top + 52 + i * 16, class: 'small' }, `${server.fqdn}${server.active ? ' (active)' : ''}`));
    });
    svg.append(group);
  }
  return h('figure', { class: 'diagram-figure' }, svg, h('figcaption', {}, title));
}

export { KIND_LABEL };
