import { command, query } from '../api.js';
import { clearErrors, field, h, json, showError, status, table, time } from '../dom.js';

export const title = 'Drift';
export const projections = ['drift', 'topology'];

const KIND_TEXT = {
  missing_in_ledger: 'in the deployment, not in the ledger',
  missing_in_deployment: 'in the ledger, not in the deployment',
  differs: 'differs',
};

/** Ledger and observed side by side: for `differs`, only the fields that differ. */
function sides(item) {
  const pick = (view) => (view && item.fields ? Object.fromEntries(item.fields.map((f) => [f, view[f]])) : view);
  return h('div', { class: 'row' }, h('div', {}, h('strong', {}, 'Ledger'), item.ledger ? json(pick(item.ledger), `ledger of ${item.entity}`) : h('p', { class: 'muted' }, 'absent')), h('div', {}, h('strong', {}, 'Observed'), item.observed ? json(pick(item.observed), `observed ${item.entity}`) : h('p', { class: 'muted' }, 'absent')));
}

export async function mount(container) {
  const summary = h('div');
  const list = h('div');
  const outcome = h('div', { 'aria-live': 'polite' });
  const reason = h('input', { name: 'reason', autocomplete: 'off', size: 40 });
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Adopt the selected drift', 'data-command': 'AdoptObservedState' },
    field('Reason', reason, 'Required: recorded with every adopted event'),
    h('button', { type: 'submit' }, 'Preview adoption (what-if)'),
  );
  let latest = null;

  container.append(
    h('h1', {}, 'Drift'),
    h('p', { class: 'muted' }, 'Where the ledger and the last observation of the real deployment disagree. Send an observation with topo observe or POST /api/observations; adopt what was changed outside the ledger, through the same rules as every command.'),
    h('section', { class: 'card', 'aria-labelledby': 'drift-title' }, h('h2', { id: 'drift-title' }, 'Open drift'), summary, list),
    h('section', { class: 'card', 'aria-labelledby': 'adopt-title', 'data-command': 'AdoptObservedState' }, h('h2', { id: 'adopt-title' }, 'Adopt'), form, outcome),
  );

  const selected = () => [...list.querySelectorAll('input[name^="adopt:"]:checked')].map((box) => box.value);
  const body = () => ({ observationId: latest?.observationId, reason: reason.value, ...(selected().length > 0 ? { entities: selected() } : {}) });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!latest) {
      outcome.replaceChildren(status('No observation yet: nothing to adopt.'));
      return;
    }
    outcome.replaceChildren(status('Checking…'));
    const sent = body();
    try {
      const preview = await command('AdoptObservedState', sent, { whatIf: true });
      const confirm = h('button', { type: 'button', class: 'danger' }, `Confirm: adopt ${preview.adopted.length} item(s)`);
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => outcome.replaceChildren() }, 'Cancel');
      confirm.addEventListener('click', async () => {
        try {
          const done = await command('AdoptObservedState', sent);
          outcome.replaceChildren(h('div', { class: 'success', role: 'status' }, `Adopted ${done.adopted.length} item(s): ${done.events.length} event(s), position ${done.position}.`));
          await refresh();
        } catch (error) {
          outcome.replaceChildren();
          showError(error, form, outcome);
        }
      });
      outcome.replaceChildren(
        h(
          'div',
          { class: 'card' },
          h('h3', {}, `What-if: ${preview.events.length} event(s) for ${preview.adopted.length} drift item(s)`),
          h('ol', {}, preview.events.map((e) => h('li', {}, h('strong', {}, e.type), ` on ${e.streamId}`))),
          (preview.warnings ?? []).map((w) => h('p', { class: 'notice' }, `${w.code} (${w.rule}): ${w.message}`)),
          h('div', { class: 'row' }, confirm, cancel),
        ),
      );
      confirm.focus();
    } catch (error) {
      outcome.replaceChildren();
      showError(error, form, outcome);
    }
  });

  async function refresh() {
    try {
      const answer = await query('/api/drift');
      latest = answer.latestObservation;
      summary.replaceChildren(
        latest
          ? h('p', {}, 'Newest observation ', h('code', {}, latest.observationId), ` (${latest.source ?? 'unknown source'}), collected `, latest.collectedAt ? time(latest.collectedAt) : 'at an unknown time', ', recorded by ', latest.recordedBy ?? 'unknown', ' at ', time(latest.recordedAt), '.')
          : h('p', { class: 'muted' }, 'No observation of this deployment yet.'),
      );
      list.replaceChildren(
        table(
          `${answer.drift.length} open`,
          [
            { label: 'Adopt', value: (d) => h('input', { type: 'checkbox', name: `adopt:${d.entity}`, value: d.entity, 'aria-label': `Adopt ${d.entity}`, 'data-command': 'AdoptObservedState' }) },
            { label: 'Entity', value: (d) => h('code', {}, d.entity) },
            { label: 'Kind', value: (d) => KIND_TEXT[d.kind] ?? d.kind },
            { label: 'Ledger vs observed', value: (d) => sides(d) },
            { label: 'First seen', value: (d) => h('span', {}, time(d.firstSeenAt), d.firstSeenBy ? ` by ${d.firstSeenBy}` : '') },
          ],
          answer.drift,
        ),
        h('p', { class: 'help' }, 'Tick items to adopt only those; with none ticked, all open drift of the newest observation is adopted.'),
      );
    } catch (error) {
      list.replaceChildren();
      showError(error, form, summary);
    }
  }
  await refresh();
  return { refresh };
}
