import { command, query } from '../api.js';
import { KIND_LABEL } from '../diagram.js';
import { clearErrors, errorBox, field, h, json, showError, status, table } from '../dom.js';

export const title = 'Endpoints';
export const projections = ['endpoint_directory', 'topology'];

/** The events a command would append, as the WhatIf preview shows them, with its warnings. */
function preview(result) {
  return [
    h('h3', {}, `What-if: ${result.events.length} event${result.events.length === 1 ? '' : 's'} would be appended`),
    h('ol', {}, result.events.map((e) => h('li', {}, h('strong', {}, e.type), ` on ${e.streamId}`, json(e.data, `${e.type} data`)))),
    (result.warnings ?? []).map((w) => h('p', { class: 'notice' }, `${w.code} (${w.rule}): ${w.message}`)),
  ];
}

/**
 * A form whose submit first previews the command (`?whatIf=true`), then asks to confirm; errors go next
 * to the field that caused them.
 */
function whatIfForm({ label, commandName, fields, body, confirmText, onDone }) {
  const outcome = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline', 'aria-label': label, 'data-command': commandName }, fields, h('button', { type: 'submit' }, 'Preview (what-if)'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    outcome.replaceChildren(status('Checking…'));
    const sent = body();
    try {
      const result = await command(commandName, sent, { whatIf: true });
      const confirm = h('button', { type: 'button', class: 'danger' }, confirmText);
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => outcome.replaceChildren() }, 'Cancel');
      confirm.addEventListener('click', async () => {
        try {
          const done = await command(commandName, sent);
          outcome.replaceChildren(h('div', { class: 'success', role: 'status' }, `${commandName} done: ${done.events.map((e) => e.type).join(', ')} at position ${done.position}.`));
          await onDone(done);
        } catch (error) {
          outcome.replaceChildren();
          showError(error, form, outcome);
        }
      });
      outcome.replaceChildren(h('div', { class: 'card' }, preview(result), h('div', { class: 'row' }, confirm, cancel)));
      confirm.focus();
    } catch (error) {
      outcome.replaceChildren();
      showError(error, form, outcome);
    }
  });
  return { form, outcome };
}

export async function mount(container) {
  const results = h('div');
  const pattern = h('input', { name: 'sipAddress', autocomplete: 'off', spellcheck: 'false', placeholder: 'sip:*@contoso.com' });
  const poolFilter = h('select', { name: 'pool' });
  const includeAll = h('input', { name: 'includeAll', type: 'checkbox', id: 'include-all' });
  const searchForm = h(
    'form',
    { class: 'inline', 'aria-label': 'Search endpoints', role: 'search' },
    field('SIP address pattern', pattern, 'Wildcards: * matches any text'),
    field('Pool', poolFilter),
    h('div', { class: 'field check' }, includeAll, h('label', { for: 'include-all' }, 'Also well-known users and default pool contacts')),
    h('button', { type: 'submit' }, 'Search'),
  );
  const searchError = h('div');

  const sipAddress = h('input', { name: 'sipAddress', autocomplete: 'off', spellcheck: 'false', placeholder: 'sip:persistentchat@contoso.com' });
  const pool = h('select', { name: 'persistentChatPoolFqdn' });
  const displayName = h('input', { name: 'displayName', autocomplete: 'off' });
  const create = whatIfForm({
    label: 'Create an endpoint',
    commandName: 'CreateEndpoint',
    fields: [field('SIP address', sipAddress), field('Persistent Chat pool', pool), field('Display name (optional)', displayName)],
    body: () => ({ sipAddress: sipAddress.value.trim(), persistentChatPoolFqdn: pool.value, ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}) }),
    confirmText: 'Confirm: create the endpoint',
    onDone: () => search(),
  });

  const identity = h('input', { name: 'identity', autocomplete: 'off', spellcheck: 'false' });
  const reason = h('input', { name: 'reason', autocomplete: 'off', size: 30 });
  const remove = whatIfForm({
    label: 'Remove an endpoint',
    commandName: 'RemoveEndpoint',
    fields: [field('Endpoint (SIP address, display name or DN)', identity), field('Reason', reason, 'Required for a removal')],
    body: () => ({ identity: identity.value.trim(), reason: reason.value }),
    confirmText: 'Confirm: remove the endpoint',
    onDone: () => search(),
  });
  const removeSection = h('section', { class: 'card', 'aria-labelledby': 'remove-title', 'data-command': 'RemoveEndpoint' }, h('h2', { id: 'remove-title' }, 'Remove an endpoint'), remove.form, remove.outcome);

  container.append(
    h('h1', {}, 'Endpoints'),
    h('p', { class: 'muted' }, 'Persistent Chat endpoints (New-, Get-, Remove-CsPersistentChatEndpoint): contacts whose SIP URI points at one Persistent Chat pool.'),
    h('section', { class: 'card', 'aria-labelledby': 'search-title' }, h('h2', { id: 'search-title' }, 'Search'), searchForm, searchError, results),
    h('section', { class: 'card', 'aria-labelledby': 'create-title', 'data-command': 'CreateEndpoint' }, h('h2', { id: 'create-title' }, 'Create an endpoint'), create.form, create.outcome),
    removeSection,
  );

  async function loadPools() {
    const topology = await query('/api/topology');
    const pools = topology.persistentChatPools ?? [];
    const keep = [poolFilter.value, pool.value];
    poolFilter.replaceChildren(h('option', { value: '' }, 'any pool'), ...pools.map((p) => h('option', { value: p.fqdn }, p.fqdn)));
    pool.replaceChildren(...(pools.length ? pools.map((p) => h('option', { value: p.fqdn }, p.fqdn)) : [h('option', { value: '' }, 'no Persistent Chat pool')]));
    if (keep[0]) poolFilter.value = keep[0];
    if (keep[1]) pool.value = keep[1];
  }

  async function search() {
    clearErrors(searchForm);
    searchError.replaceChildren();
    try {
      const found = await query('/api/endpoints', {
        sipAddress: pattern.value.trim(),
        pool: poolFilter.value,
        includeAll: includeAll.checked ? 'true' : undefined,
      });
      results.replaceChildren(
        table(
          `${found.endpoints.length} found`,
          [
            { label: 'SIP address', value: (e) => e.sipAddress },
            { label: 'Kind', value: (e) => KIND_LABEL[e.kind] ?? e.kind },
            { label: 'Pool', value: (e) => e.poolFqdn ?? '' },
            { label: 'Display name', value: (e) => e.displayName ?? '' },
            {
              label: 'Action',
              value: (e) =>
                e.kind === 'endpoint'
                  ? h('button', { type: 'button', class: 'secondary', 'data-command': 'RemoveEndpoint', 'aria-label': `Remove ${e.sipAddress}`, onclick: () => { identity.value = e.sipAddress; reason.focus(); } }, 'Remove…')
                  : '',
            },
          ],
          found.endpoints,
        ),
      );
    } catch (error) {
      showError(error, searchForm, searchError);
    }
  }

  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void search();
  });

  async function refresh() {
    await Promise.all([loadPools().catch((error) => searchError.replaceChildren(errorBox(error))), search()]);
  }
  await refresh();
  return { refresh };
}
