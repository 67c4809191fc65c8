import fc from 'fast-check';
import { DomainError } from '../../src/domain/errors';
import { sipDomainOf } from '../../src/domain/shared/sip-uri';
import {
  type TopologyCommand,
  type TopologyEvent,
  type TopologyState,
  allSipAddresses,
  decide,
  evolve,
  foldTopology,
  initialState,
} from '../../src/domain/topology';
import { topologyCommand } from '../support/topology-commands';
import { fqdn, sip, snapshot } from './fixtures';

const command = topologyCommand;

// Sequences start from some of these, so that commands find pools and domains to act on, and
// sometimes from nothing at all.
const setup: TopologyCommand[] = [
  { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
  { type: 'RegisterSipDomain', domain: fqdn('fabrikam.com') },
  { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com'), fqdn('pc2.contoso.com')] },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool2.contoso.com'), servers: [fqdn('pc3.contoso.com')] },
];
const history = fc
  .tuple(fc.subarray(setup), fc.array(command, { minLength: 5, maxLength: 60, size: 'max' }))
  .map(([prefix, commands]) => [...prefix, ...commands]);

/** The invariants every reachable topology keeps, whatever was refused on the way. */
function checkInvariants(state: TopologyState): void {
  // R3: one owner per SIP address (each collection is keyed by address, so a repeat means two owners).
  const owned = [...allSipAddresses(state)];
  expect(new Set(owned).size).toBe(owned.length);
  // R1: every address lives in a registered domain.
  for (const uri of owned) expect(state.sipDomains.has(sipDomainOf(uri))).toBe(true);
  // R4: every endpoint points at an existing Persistent Chat pool.
  for (const endpoint of state.endpoints.values()) expect(state.persistentChatPools.has(endpoint.poolFqdn)).toBe(true);
  for (const pcPool of state.persistentChatPools.values()) {
    // R10 and R12.
    expect(pcPool.servers.length).toBeGreaterThanOrEqual(1);
    expect(pcPool.servers.length).toBeLessThanOrEqual(pcPool.singleServer ? 1 : 8);
    expect(new Set(pcPool.servers).size).toBe(pcPool.servers.length);
    expect(pcPool.activeServers.length).toBeLessThanOrEqual(4);
    for (const active of pcPool.activeServers) expect(pcPool.servers).toContain(active);
    // R7: the default contact exists while its pool does.
    expect(state.defaultPoolContacts.get(pcPool.defaultContactSipAddress)).toBe(pcPool.fqdn);
  }
  // Pool FQDNs are unique across both kinds, and a computer belongs to one pool.
  for (const fqdnOfPool of state.persistentChatPools.keys()) expect(state.legacyPools.has(fqdnOfPool)).toBe(false);
  const computers = [...state.persistentChatPools.values()].flatMap((p) => p.servers.filter((s) => s !== p.fqdn));
  expect(new Set(computers).size).toBe(computers.length);
  for (const computer of computers) {
    expect(state.persistentChatPools.has(computer)).toBe(false);
    expect(state.legacyPools.has(computer)).toBe(false);
  }
  // Exactly one default SIP domain once any is registered.
  if (state.sipDomains.size > 0) expect(state.sipDomains.has(state.defaultSipDomain ?? fqdn('none.invalid'))).toBe(true);
  else expect(state.defaultSipDomain).toBeNull();
  expect(state.userCount).toBe([...state.principals.values()].filter((p) => p.kind === 'user').length);
}

describe('topology invariants over random command sequences', () => {
  it('R3, R4, R10, R12: no SIP URI is owned twice, endpoints point at Persistent Chat pools, server limits hold', () => {
    fc.assert(
      fc.property(history, (commands) => {
        let state = initialState();
        const appended: TopologyEvent[] = [];
        for (const next of commands) {
          const before = snapshot(state);
          let events: TopologyEvent[];
          try {
            events = decide(next, state).events;
          } catch (error) {
            // A refusal is a DomainError, never a crash; a refused command changes nothing.
            expect(error).toBeInstanceOf(DomainError);
            continue;
          } finally {
            expect(snapshot(state)).toEqual(before);
          }
          state = events.reduce(evolve, state);
          appended.push(...events);
          checkInvariants(state);
        }
        // Loading the stream in one fold gives the state built event by event.
        expect(snapshot(foldTopology(appended))).toEqual(snapshot(state));
      }),
      { numRuns: 200 },
    );
  });
});
