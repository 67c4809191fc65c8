import { InvalidFqdn } from '../errors';

/** A fully qualified domain name, lower-cased, without a trailing dot. */
export type Fqdn = string & { readonly __brand: 'Fqdn' };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_LENGTH = 253;

/** Parses a pool, server or SIP domain name; `field` is the input field named in the error. */
export function parseFqdn(input: string, field: string): Fqdn {
  const name = normalize(input);
  const problem = fqdnProblem(name);
  if (problem) throw new InvalidFqdn(input, field, problem);
  return name as Fqdn;
}

/** Why `name` (already trimmed and lower-cased) is not an FQDN, or null when it is one. */
export function fqdnProblem(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_LENGTH) return `it is longer than ${MAX_LENGTH} characters`;
  const labels = name.split('.');
  if (labels.length < 2) return 'it needs at least two labels (e.g. pool.contoso.com)';
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    return bad === ''
      ? 'it has an empty label'
      : `the label '${bad}' must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen`;
  }
  // An all-numeric last label is an IPv4 address, which Lync's topology does not accept as a pool or domain name.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return 'it is an IP address, not a name';
  return null;
}

function normalize(input: string): string {
  const trimmed = input.trim().toLowerCase();
  return trimmed.endsWith('.') ? trimmed.slice(0, -1) : trimmed;
}

/**
 * A Persistent Chat pool's service identity as Lync's cmdlets write it (`PersistentChatServer:<fqdn>`,
 * `service:PersistentChatServer:<fqdn>`), or the bare FQDN: the pool's FQDN as given, not yet parsed.
 */
export function poolFqdnOfServiceIdentity(identity: string): string {
  return identity.trim().replace(/^service:/i, '').replace(/^PersistentChatServer:/i, '');
}
