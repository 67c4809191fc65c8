import { ApiError, query } from '../api.js';
import { changeKey, drawTopology } from '../diagram.js';
import { may } from '../permissions.js';
import { badge, errorBox, field, h, status } from '../dom.js';
import { topologyTables } from './topology.js';

export const title = 'Time travel';
export const projections = ['audit_trail'];

/** Audit pages read to place marks on the slider (500 entries each). */
const MAX_PAGES = 40;

/**
 * The slider's marks, oldest first: the empty store, then one per accepted command of this deployment
 * (at the position of its last event), read from the audit trail.
 */
async function loadMarks() {
  const entries = [];
  let cursor;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await query('/api/audit', { outcome: 'accepted', limit: 500, cursor });
    entries.push(...answer.entries);
    if (!answer.nextCursor) break;
    cursor = answer.nextCursor;
  }
  entries.sort((a, b) => a.position - b.position);
  const marks = [{ position: 0, occurredAt: null, label: 'before the first change', types: [] }];
  for (const entry of entries) {
    const last = marks[marks.length - 1];
    if (last.commandId && last.commandId === entry.commandId) {
      last.position = entry.position;
      last.types.push(entry.type);
      continue;
    }
    marks.push({
      position: entry.position,
      occurredAt: entry.occurredAt,
      commandId: entry.commandId,
      label: `${entry.command ?? entry.type} by ${entry.actor}${entry.reason ? ` (${entry.reason})` : ''}`,
      types: [entry.type],
    });
  }
  return marks;
}

function describe(mark) {
  if (!mark) return '';
  const when = mark.occurredAt ? mark.occurredAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : mark.position === 0 ? 'the start' : null;
  return `Position ${mark.position}${when ? ` · ${when}` : ''} · ${mark.label}${mark.types.length ? `: ${mark.types.join(', ')}` : ''}`;
}

/**
 * `entity:key` → added | changed, for the diagram and tables (see changeKey in diagram.js); removed
 * entities are not in the topology shown, and are listed beside it.
 */
function changesOf(diff) {
  const changes = new Map();
  for (const item of diff.added ?? []) changes.set(changeKey(item.entity, item.key), 'added');
  for (const item of diff.changed ?? []) changes.set(changeKey(item.entity, item.key), 'changed');
  return changes;
}

function diffList(diff, heading) {
  const items = [
    ...(diff.added ?? []).map((d) => h('li', { dataset: { change: 'added', entity: d.entity, key: d.key } }, badge('added'), ` ${d.entity} ${d.key}`)),
    ...(diff.changed ?? []).map((d) =>
      h(
        'li',
        { dataset: { change: 'changed', entity: d.entity, key: d.key } },
        badge('changed'),
        ` ${d.entity} ${d.key}: `,
        (d.fields ?? []).map((f) => `${f} ${JSON.stringify(d.before?.[f])} → ${JSON.stringify(d.after?.[f])}`).join('; '),
      ),
    ),
    ...(diff.removed ?? []).map((d) => h('li', { dataset: { change: 'removed', entity: d.entity, key: d.key } }, badge('removed'), ` ${d.entity} ${d.key}`)),
  ];
  return h('div', { class: 'card diff' }, h('h2', {}, heading), items.length ? h('ul', { class: 'plain' }, items) : h('p', { class: 'muted' }, 'No change.'));
}

export async function mount(container) {
  const slider = h('input', { type: 'range', name: 'moment', min: 0, max: 0, step: 1, value: 0 });
  const moment = h('p', { class: 'moment', id: 'moment-text', 'aria-live': 'polite' });
  const previous = h('button', { type: 'button', class: 'secondary' }, '◀ Earlier');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Later ▶');
  const when = h('input', { type: 'datetime-local', name: 'asOf', step: 1 });
  const whenForm = h('form', { class: 'inline', 'aria-label': 'Go to a moment' }, field('Date and time (UTC)', when), h('button', { type: 'submit' }, 'Go'));
  const fromSelect = h('select', { name: 'from' });
  const toSelect = h('select', { name: 'to' });
  const compareForm = h('form', { class: 'inline', 'aria-label': 'Compare two moments' }, field('From', fromSelect), field('To', toSelect), h('button', { type: 'submit' }, 'Compare'));
  const comparison = h('div', { 'aria-live': 'polite' });
  const changes = h('div', { 'aria-live': 'polite' });
  const view = h('div', { class: 'split' });
  const problem = h('div');
  const where = status();

  container.append(
    h('h1', {}, 'Time travel'),
    h('p', { class: 'muted' }, 'Move through the history: the topology as it was at each change, with what changed since the previous mark highlighted.'),
    where,
    h(
      'section',
      { class: 'card', 'aria-label': 'Moment' },
      // The marks are the audit trail's accepted commands: a role that may not read it goes by date.
      h('div', { 'data-route': 'GET /api/audit' }, h('div', { class: 'slider' }, h('label', { for: 'moment-slider' }, 'Moment in the history'), slider), h('div', { class: 'row' }, previous, next)),
      moment,
      whenForm,
    ),
    problem,
    changes,
    view,
    h('section', { class: 'card', 'aria-labelledby': 'compare-title', 'data-route': 'GET /api/audit' }, h('h2', { id: 'compare-title' }, 'Compare two moments'), compareForm, comparison),
  );
  slider.id = 'moment-slider';
  slider.setAttribute('aria-describedby', 'moment-text');

  let marks = [];
  let shown; // the position on display: the "previous mark" of the next move

  async function show(index) {
    const mark = marks[index];
    if (!mark) return;
    slider.value = String(index);
    slider.setAttribute('aria-valuetext', describe(mark));
    moment.textContent = describe(mark);
    previous.disabled = index <= 0;
    next.disabled = index >= marks.length - 1;
    await render(mark, () => slider.value === String(index));
  }

  /** The topology at `mark`, and what changed since the moment shown before (unless `stillWanted()` turned false meanwhile). */
  async function render(mark, stillWanted = () => true) {
    const from = shown ?? mark.position;
    try {
      // From the moment shown before to the one shown now, in that order (backwards too): "added" is
      // what the topology on display has and the previous one had not, as the diagram tags it.
      const [topology, diff] = await Promise.all([
        query('/api/topology', { atPosition: mark.position }),
        query('/api/topology/diff', { from, to: mark.position }),
      ]);
      if (!stillWanted()) return; // moved on meanwhile
      problem.replaceChildren();
      const highlight = from === mark.position ? new Map() : changesOf(diff);
      const direction = from < mark.position ? 'forward' : 'back';
      changes.replaceChildren(from === mark.position ? '' : diffList(diff, `Changes from position ${from} ${direction} to ${mark.position}`));
      view.replaceChildren(
        h('section', { class: 'pane', 'aria-label': 'Diagram at this moment' }, drawTopology(topology, { changes: highlight, title: `Which SIP URI reached which pool at position ${mark.position}` })),
        h('section', { class: 'pane', 'aria-label': 'Tables at this moment' }, topologyTables(topology, { changes: highlight })),
      );
      shown = mark.position;
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
  }

  let pending;
  slider.addEventListener('input', () => {
    const index = Number(slider.value);
    moment.textContent = describe(marks[index]);
    clearTimeout(pending);
    pending = setTimeout(() => void show(index), 120);
  });
  previous.addEventListener('click', () => void show(Math.max(0, Number(slider.value) - 1)));
  next.addEventListener('click', () => void show(Math.min(marks.length - 1, Number(slider.value) + 1)));

  whenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!when.value) return;
    const asOf = new Date(`${when.value}Z`).toISOString();
    try {
      const topology = await query('/api/topology', { asOf });
      const position = topology.position ?? 0;
      if (marks.length === 0) {
        const mark = { position, occurredAt: asOf, label: 'the moment asked for', types: [] };
        moment.textContent = describe(mark);
        await render(mark);
        return;
      }
      let index = 0;
      marks.forEach((mark, i) => {
        if (mark.position <= position) index = i;
      });
      await show(index);
      slider.focus();
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
  });

  compareForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const diff = await query('/api/topology/diff', { from: fromSelect.value, to: toSelect.value });
      comparison.replaceChildren(diffList(diff, `From position ${fromSelect.value} to ${toSelect.value}`));
    } catch (error) {
      comparison.replaceChildren(errorBox(error));
    }
  });

  async function refresh({ live = false } = {}) {
    try {
      const atEnd = marks.length === 0 || Number(slider.value) >= marks.length - 1;
      // A role that may not read the audit trail has no marks (a 403 says the same if the session was not known).
      const forbidden = (error) => (error instanceof ApiError && error.status === 403 ? null : Promise.reject(error));
      const loaded = may('GET /api/audit') ? await loadMarks().catch(forbidden) : null;
      if (!loaded) {
        // Without the audit trail: the latest topology, and the date field to go back (the slider says why).
        if (live && shown !== undefined) return;
        const topology = await query('/api/topology');
        const mark = { position: topology.position ?? 0, occurredAt: null, label: 'the latest change', types: [] };
        where.textContent = "The slider's marks are the audit trail's changes, which this role may not read: go to a date and time to see the topology as it was then.";
        moment.textContent = describe(mark);
        await render(mark);
        return;
      }
      if (live && loaded.length === marks.length && loaded.at(-1)?.position === marks.at(-1)?.position) return;
      marks = loaded;
      slider.max = String(marks.length - 1);
      where.textContent = `${marks.length - 1} changes in deployment history.`;
      const options = () => marks.map((m) => h('option', { value: m.position }, describe(m)));
      const keep = [fromSelect.value, toSelect.value];
      fromSelect.replaceChildren(...options());
      toSelect.replaceChildren(...options());
      fromSelect.value = keep[0] || String(marks[0].position);
      toSelect.value = keep[1] || String(marks[marks.length - 1].position);
      // Follow the head when looking at it; otherwise stay on the moment being looked at.
      if (!live || atEnd) await show(atEnd ? marks.length - 1 : Number(slider.value));
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
  }
  await refresh();
  return { refresh };
}
