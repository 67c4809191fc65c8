import { distinguishedNameKey } from '../../src/domain/shared/distinguished-name';
import { sipDomainOf } from '../../src/domain/shared/sip-uri';
import { allSipAddresses, type TopologyState } from '../../src/domain/topology';

/**
 * The invariants every reachable topology keeps (R1, R3, R4, R7, R10, R12, unique pool and computer
 * names, one default SIP domain). Returns the violations, empty when there are none.
 */
export function topologyViolations(state: TopologyState): string[] {
  const violations: string[] = [];
  const owned = [...allSipAddresses(state)];
  if (new Set(owned).size !== owned.length) violations.push(`R3: a SIP address has two owners (${owned.join(', ')})`);
  for (const uri of owned) if (!state.sipDomains.has(sipDomainOf(uri))) violations.push(`R1: ${uri} is outside every registered SIP domain`);
  for (const endpoint of state.endpoints.values()) {
    if (!state.persistentChatPools.has(endpoint.poolFqdn)) violations.push(`R4: endpoint ${endpoint.sipAddress} points at missing pool ${endpoint.poolFqdn}`);
  }
  for (const pool of state.persistentChatPools.values()) {
    if (pool.servers.length < 1 || pool.servers.length > (pool.singleServer ? 1 : 8)) violations.push(`R10: pool ${pool.fqdn} has ${pool.servers.length} servers`);
    if (new Set(pool.servers).size !== pool.servers.length) violations.push(`pool ${pool.fqdn} lists a server twice`);
    if (pool.activeServers.length > 4) violations.push(`R12: pool ${pool.fqdn} has ${pool.activeServers.length} active servers`);
    for (const active of pool.activeServers) if (!pool.servers.includes(active)) violations.push(`R12: active server ${active} is not in pool ${pool.fqdn}`);
    if (state.defaultPoolContacts.get(pool.defaultContactSipAddress) !== pool.fqdn) violations.push(`R7: pool ${pool.fqdn} lost its default contact`);
    if (state.legacyPools.has(pool.fqdn)) violations.push(`pool FQDN ${pool.fqdn} is used twice`);
  }
  const computers = [...state.persistentChatPools.values()].flatMap((p) => p.servers.filter((s) => s !== p.fqdn));
  if (new Set(computers).size !== computers.length) violations.push('a computer belongs to two pools');
  for (const computer of computers) {
    if (state.persistentChatPools.has(computer) || state.legacyPools.has(computer)) violations.push(`computer ${computer} is also a pool's FQDN`);
  }
  if (state.sipDomains.size > 0 ? state.defaultSipDomain === null || !state.sipDomains.has(state.defaultSipDomain) : state.defaultSipDomain !== null) {
    violations.push(`default SIP domain ${String(state.defaultSipDomain)} is not one registered domain`);
  }
  if (state.userCount !== [...state.principals.values()].filter((p) => p.kind === 'user').length) violations.push('userCount disagrees with the principals');
  // The endpoint indexes say what a scan of the endpoints says.
  const names = new Map<string, string[]>();
  const perPool = new Map<string, number>();
  for (const endpoint of state.endpoints.values()) {
    const key = distinguishedNameKey(endpoint.distinguishedName);
    names.set(key, [...(names.get(key) ?? []), endpoint.sipAddress]);
    perPool.set(endpoint.poolFqdn, (perPool.get(endpoint.poolFqdn) ?? 0) + 1);
  }
  const indexed = new Map([...state.endpointDistinguishedNames].map(([key, holders]) => [key, [...holders]]));
  if (JSON.stringify([...indexed].sort()) !== JSON.stringify([...names].sort())) violations.push('the endpoints-by-distinguished-name index disagrees with the endpoints');
  if (JSON.stringify([...state.endpointCountByPool].sort()) !== JSON.stringify([...perPool].sort())) violations.push('the endpoints-per-pool count disagrees with the endpoints');
  return violations;
}
