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

// Labels wrap inside their boxes, never past them: measured in the diagram's own units (its text
// sizes are in user units, which scale with the picture), in the font the stylesheet gives them.
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const LINE = {
  name: { font: `600 12.5px ${FONT}`, step: 15 },
  small: { font: `11px ${FONT}`, step: 14 },
};
let measuring;

function textWidth(text, font) {
  measuring ??= document.createElement('canvas').getContext('2d');
  measuring.font = font;
  return measuring.measureText(text).width;
}

/** `text` in lines at most `width` wide: broken at spaces, a word too long for a line after a `.`, `-` or `@` (else where it must). */
export function wrapText(text, font, width) {
  const fits = (part) => textWidth(part, font) * 1.04 <= width;
  const lines = [];
  let line = '';
  for (const word of String(text).split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    let rest = word;
    while (rest.length > 1 && !fits(rest)) {
      let cut = rest.length - 1;
      while (cut > 1 && !fits(rest.slice(0, cut))) cut -= 1;
      const soft = Math.max(...['.', '-', '@'].map((mark) => rest.lastIndexOf(mark, cut - 1)));
      if (soft > 0) cut = soft + 1;
      lines.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    line = rest;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A box's text, top to bottom: `blocks` of `{ text, kind: 'name' | 'small', indent, gap, reserve }`
 * (reserve: room kept free on the right of the first line, for the change tag). Answers the lines
 * with their baselines, relative to the box's top, and the box's height.
 */
function layoutBox(blocks, width) {
  const lines = [];
  let baseline = 0;
  for (const { text, kind, indent = 0, gap = 0, reserve = 0 } of blocks) {
    const { font, step } = LINE[kind];
    wrapText(text, font, width - 20 - indent - reserve).forEach((part, i) => {
      baseline += lines.length === 0 ? (kind === 'name' ? 15 : 14) + gap : step + (i === 0 ? gap : 0);
      lines.push({ text: part, kind, indent, baseline });
    });
  }
  return { lines, height: baseline + 7 };
}

function boxText(x, top, { lines }, classes) {
  return lines.map((line) => h('svg:text', { x: x + 10 + line.indent, y: top + line.baseline, class: classes[line.kind] }, line.text));
}

/**
 * An SVG of SIP URIs (left) and pools (right) with a line from each URI to its pool. `changes` maps an
 * entity (changeKey: kind and SIP URI or pool FQDN) to `added` or `changed`, drawn highlighted.
 */
export function drawTopology(topology, { changes = new Map(), title = 'Which SIP URI reaches which pool' } = {}) {
  const routes = routesOf(topology);
  const pools = poolsOf(topology);
  const left = { x: 8, width: 362 };
  const right = { x: 482, width: 270 };
  const TAG = 62; // room for the change tag ("changed") beside the first line

  let y = 16;
  const uriBoxes = routes.map((route) => {
    const change = routeChange(changes, route);
    const layout = layoutBox(
      [
        { text: route.sipAddress, kind: 'name' },
        { text: KIND_LABEL[route.kind], kind: 'small', reserve: change ? TAG : 0 },
      ],
      left.width,
    );
    const box = { route, change, layout, y };
    y += layout.height + 12;
    return box;
  });
  const leftHeight = y;
  y = 16;
  const poolBoxes = pools.map((pool) => {
    const change = poolChange(changes, pool);
    const layout = layoutBox(
      [
        { text: pool.fqdn, kind: 'name', reserve: change ? TAG : 0 },
        { text: `${pool.label} · ${pool.status}${pool.state ? ` · ${pool.state}` : ''}`, kind: 'small', gap: 2 },
        ...pool.servers.map((server, i) => ({ text: `${server.fqdn}${server.active ? ' (active)' : ''}`, kind: 'small', indent: 12, gap: i === 0 ? 3 : 2 })),
      ],
      right.width,
    );
    const box = { pool, change, layout, y };
    y += layout.height + 16;
    return box;
  });
  const height = Math.max(leftHeight, y, 80);
  const poolY = new Map(poolBoxes.map((b) => [b.pool.fqdn, b.y + b.layout.height / 2]));
  const titleId = `diagram-title-${Math.random().toString(36).slice(2)}`;

  const svg = h(
    'svg:svg',
    { viewBox: `0 0 ${right.x + right.width + 8} ${height}`, role: 'img', 'aria-labelledby': titleId, class: 'diagram' },
    h('svg:title', { id: titleId }, `${title}: ${routes.map((r) => `${r.sipAddress} to ${r.poolFqdn}`).join('; ') || 'no SIP URI reaches a pool'}`),
  );
  for (const { route, change, layout, y: top } of uriBoxes) {
    const from = top + layout.height / 2;
    const to = poolY.get(route.poolFqdn);
    if (to === undefined) continue;
    const x1 = left.x + left.width;
    const x2 = right.x;
    svg.append(
      h('svg:path', {
        d: `M ${x1} ${from} C ${x1 + 70} ${from}, ${x2 - 70} ${to}, ${x2} ${to}`,
        class: `route route-${route.kind}${change ? ` changed-${change}` : ''}`,
      }),
    );
  }
  for (const { route, change, layout, y: top } of uriBoxes) {
    const kindLine = layout.lines[layout.lines.length - 1];
    svg.append(
      h(
        'svg:g',
        { class: `uri uri-${route.kind}${change ? ` changed-${change}` : ''}`, 'data-sip': route.sipAddress },
        h('svg:rect', { x: left.x, y: top, width: left.width, height: layout.height, rx: 6 }),
        boxText(left.x, top, layout, { name: 'uri-address', small: 'small' }),
        change ? h('svg:text', { x: left.x + left.width - 10, y: top + kindLine.baseline, class: 'small change-label', 'text-anchor': 'end' }, change) : null,
      ),
    );
  }
  for (const { pool, change, layout, y: top } of poolBoxes) {
    svg.append(
      h(
        'svg:g',
        { class: `pool pool-${pool.kind} status-${String(pool.status).toLowerCase()}${change ? ` changed-${change}` : ''}`, 'data-pool': pool.fqdn },
        h('svg:rect', { x: right.x, y: top, width: right.width, height: layout.height, rx: 8 }),
        boxText(right.x, top, layout, { name: 'pool-name', small: 'small' }),
        change ? h('svg:text', { x: right.x + right.width - 10, y: top + layout.lines[0].baseline, class: 'small change-label', 'text-anchor': 'end' }, change) : null,
      ),
    );
  }
  return h('figure', { class: 'diagram-figure' }, svg, h('figcaption', {}, title));
}

export { KIND_LABEL };
