// Building the page from data: text always goes in as text (never as HTML).

let nextId = 0;

/** A unique element id with a readable prefix. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * `h('button', { type: 'button', onclick }, 'Run')`: attributes whose name starts with `on` become
 * listeners, `false`/`null`/`undefined` are left out, children may be strings, nodes or arrays.
 */
export function h(tag, attributes = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name === 'value' && 'value' in element) element.value = value;
    else if (name === 'checked' && 'checked' in element) element.checked = Boolean(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A labelled control with a place for the error that names it (`data-error-for`). */
export function field(labelText, control, help) {
  const id = control.id || uid(control.name || 'field');
  control.id = id;
  const errorId = `${id}-error`;
  const helpId = help ? `${id}-help` : undefined;
  control.setAttribute('aria-describedby', [helpId, errorId].filter(Boolean).join(' '));
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, labelText),
    control,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    h('p', { class: 'field-error', id: errorId, 'data-error-for': control.name || id, hidden: true }),
  );
}

/** Shows `error` next to the control its `details.field` names, in `form`; otherwise in `fallback`. */
export function showError(error, form, fallback) {
  clearErrors(form);
  const name = error?.details?.field;
  const control = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  const message = error?.details?.hint ? `${error.message}` : error?.message ?? String(error);
  if (control) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    control.setAttribute('aria-invalid', 'true');
    if (slot) {
      slot.textContent = `${error.code}: ${message}`;
      slot.hidden = false;
    }
    control.focus();
    return;
  }
  fallback.replaceChildren(errorBox(error));
}

export function clearErrors(form) {
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const slot of form.querySelectorAll('[data-error-for]')) {
    slot.textContent = '';
    slot.hidden = true;
  }
}

/** An error answer as a block: its code, message and, when present, its details. */
export function errorBox(error) {
  // Not signed in: the sign-in form above says so and why, once.
  if (error?.status === 401) return h('p', { class: 'muted' }, 'Not signed in.');
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, error?.code ?? 'ERROR'),
    ' ',
    error?.message ?? String(error),
  );
}

/**
 * Text that may wrap after the dots, `@`, hyphens and slashes of an FQDN or SIP URI: a narrow cell
 * breaks a name there, not in the middle of a word, and never cuts it. Nodes are left as they are.
 */
export function breakable(value) {
  if (Array.isArray(value)) return value.map(breakable);
  if (typeof value !== 'string') return value;
  return value.split(/(?<=[.@\-/])(?=.)/).flatMap((part, i) => (i === 0 ? [part] : [h('wbr'), part]));
}

/** A table from column definitions `{ label, value(row) }`; `value` may return text or nodes. */
export function table(caption, columns, rows, { rowAttributes } = {}) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'none'))
        : rows.map((row) => h('tr', rowAttributes ? rowAttributes(row) : {}, columns.map((c) => h('td', {}, breakable(c.value(row) ?? ''))))),
    ),
  );
}

/** JSON for people: indented, in a scrollable block. */
export function json(value, label) {
  return h('pre', { class: 'json', tabindex: 0, 'aria-label': label ?? 'JSON' }, JSON.stringify(value, null, 2));
}

export function time(iso) {
  if (!iso) return '';
  return h('time', { datetime: iso }, iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${String(kind).toLowerCase()}` }, text);
}

/** A region that announces its new content to screen readers. */
export function status(text = '') {
  return h('p', { class: 'status', role: 'status' }, text);
}

/**
 * Re-renders `container` with `render()` keeping what the user typed or ticked in its named fields,
 * and the focus: a live refresh must not wipe a half-written reason.
 */
export async function keepingInput(container, render) {
  const values = new Map();
  for (const control of container.querySelectorAll('input[name], select[name], textarea[name]')) {
    values.set(control.name, control.type === 'checkbox' ? control.checked : control.value);
  }
  const focused = container.contains(document.activeElement) ? document.activeElement?.getAttribute('name') : null;
  await render();
  for (const control of container.querySelectorAll('input[name], select[name], textarea[name]')) {
    if (!values.has(control.name)) continue;
    if (control.type === 'checkbox') control.checked = values.get(control.name);
    else control.value = values.get(control.name);
  }
  if (focused) container.querySelector(`[name="${CSS.escape(focused)}"]`)?.focus();
}
