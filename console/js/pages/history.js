import { h } from '../dom.js';
export const title = 'history';
export const projections = [];
export async function mount(container) {
  container.append(h('h1', {}, 'history'));
  return { refresh: async () => {} };
}
