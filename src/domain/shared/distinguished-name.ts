/**
 * Active Directory distinguished names of endpoint contacts. Pure.
 *
 * Lync creates a Persistent Chat endpoint's contact under the RTC Service's application contacts of
 * the forest's configuration partition, named by its objectGUID:
 * `CN={33e5014b-dcba-46b5-9bf7-48f4d5fca69d},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com`.
 */

/** Lower-case GUID without braces, or undefined when `text` is not one (`{...}` or bare, any case). */
export function parseGuid(text: string): string | undefined {
  const match = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i.exec(text.trim());
  return match ? match[1]!.toLowerCase() : undefined;
}

/** The DN of the contact with objectGUID `guid` in the forest whose DNS name is `forestDomain`. */
export function contactDistinguishedName(guid: string, forestDomain: string): string {
  const domainComponents = forestDomain
    .split('.')
    .map((label) => `DC=${label}`)
    .join(',');
  return `CN={${guid.toLowerCase()}},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,${domainComponents}`;
}

/**
 * The objectGUID and forest of an application contact's DN (`CN={guid},CN=Application Contacts,CN=RTC
 * Service,CN=Services,CN=Configuration,DC=...`, as Get-CsPersistentChatEndpoint gives an endpoint's
 * Identity; spaces after commas and case do not matter), or undefined when `dn` is not one.
 */
export function parseContactDistinguishedName(dn: string): { readonly guid: string; readonly forestDomain: string } | undefined {
  const match = /^cn=(\{[^}]*\}),cn=application contacts,cn=rtc service,cn=services,cn=configuration,((?:dc=[a-z0-9-]+,)*dc=[a-z0-9-]+)$/.exec(distinguishedNameKey(dn));
  const guid = match ? parseGuid(match[1]!) : undefined;
  if (!match || guid === undefined) return undefined;
  return { guid, forestDomain: match[2]!.split(',').map((part) => part.slice('dc='.length)).join('.') };
}

/**
 * How two DNs compare: each relative name trimmed (the reference writes `CN={...}, CN=Application
 * Contacts,...` with a space after a comma), without regard to case; escaped commas stay in their value.
 */
export function distinguishedNameKey(dn: string): string {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\' && i + 1 < dn.length) {
      current += c + dn[++i];
      continue;
    }
    if (c === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0 ? part.trim() : `${part.slice(0, eq).trim()}=${part.slice(eq + 1).trim()}`;
    })
    .join(',')
    .toLowerCase();
}
