import fc from 'fast-check';
import { DomainError } from '../../src/domain/errors';
import {
  type TopologyCommand,
  type TopologyEvent,
  type TopologyState,
  decide,
  evolve,
  foldTopology,
  initialState,
} from '../../src/domain/topology';
import { topologyCommand } from '../support/topology-commands';
import { topologyViolations } from '../support/topology-invariants';
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
  expect(topologyViolations(state)).toEqual([]);
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
