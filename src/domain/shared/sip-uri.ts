import { InvalidSipAddress } from '../errors';
import { type Fqdn, fqdnProblem } from './fqdn';

/** A SIP URI `sip:user@domain`, lower-cased (R2), so equal addresses compare equal as strings. */
export type SipUri = string & { readonly __brand: 'SipUri' };

// Active Directory's msRTCSIP-PrimaryUserAddress holds at most 454 characters.
const MAX_LENGTH = 454;
// The user part as Lync accepts it in practice: letters, digits and the few punctuation marks AD allows there.
const USER = /^[a-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+=?^_`{|}~-]+)*$/;

/** Parses a SIP address given in `field` (R1), lower-casing it (R2). */
export function parseSipUri(input: string, field: string): SipUri {
  const value = input.trim().toLowerCase();
  if (value.length === 0) throw new InvalidSipAddress(input, field, 'it is empty'); // R1: a valid SIP address
  if (!value.startsWith('sip:')) { // R1: the `sip:` prefix
    const hint = looksLikeUserAtDomain(value) ? `sip:${value}` : undefined;
    throw new InvalidSipAddress(input, field, "it must start with the 'sip:' prefix", hint);
  }
  if (value.length > MAX_LENGTH) throw new InvalidSipAddress(input, field, `it is longer than ${MAX_LENGTH} characters`); // R1: a valid SIP address

  const address = value.slice('sip:'.length);
  const at = address.lastIndexOf('@');
  if (at < 0) throw new InvalidSipAddress(input, field, "it must have the form 'sip:user@domain'"); // R1: a valid SIP address
  const user = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!USER.test(user)) { // R1: a valid SIP address
    throw new InvalidSipAddress(input, field, `the user part '${user}' is empty or holds characters a SIP address cannot have`);
  }
  const domainProblem = fqdnProblem(domain);
  if (domainProblem) throw new InvalidSipAddress(input, field, `the domain '${domain}' is not valid: ${domainProblem}`); // R1: a valid SIP address
  return value as SipUri;
}

/** The SIP domain of an address: `sip:ocschat@contoso.com` → `contoso.com`. */
export function sipDomainOf(uri: SipUri): Fqdn {
  return uri.slice(uri.lastIndexOf('@') + 1) as Fqdn;
}

/** Builds an address from parts that are already valid (a user part this module's rules accept, an Fqdn). */
export function sipUriOf(user: string, domain: Fqdn): SipUri {
  return `sip:${user.toLowerCase()}@${domain}` as SipUri;
}

function looksLikeUserAtDomain(value: string): boolean {
  const at = value.lastIndexOf('@');
  return at > 0 && USER.test(value.slice(0, at)) && fqdnProblem(value.slice(at + 1)) === null;
}
