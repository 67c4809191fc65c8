import { h } from '../dom.js';
export const title = 'endpoints';
export const projections = [];
export async function mount(container) {
  container.append(h('h1', {}, 'endpoints'));
  return { refresh: async () => {} };
}
