import fc from 'fast-check';
import { DomainError } from '../../src/domain/errors';
import { computeDrift, coverageOf, decideAdoption, expectedSnapshot, type Snapshot } from '../../src/domain/observation';
import { type TopologyCommand, type TopologyState, decide, foldTopology, initialState } from '../../src/domain/topology';
import { topologyCommand } from '../support/topology-commands';
import { fqdn, sip } from './fixtures';

const setup: TopologyCommand[] = [
  { type: 'RegisterSipDomain', domain: fqdn('contoso.com') },
  { type: 'RegisterSipDomain', domain: fqdn('fabrikam.com') },
  { type: 'DefineLegacyGroupChatPool', fqdn: fqdn('gc.contoso.com'), version: 'Lync2010', wellKnownSipAddress: sip('sip:ocschat@contoso.com') },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool.contoso.com'), servers: [fqdn('pc1.contoso.com'), fqdn('pc2.contoso.com')] },
  { type: 'InstallPersistentChatPool', fqdn: fqdn('pcpool2.contoso.com'), servers: [fqdn('pc3.contoso.com')] },
];
// An address named as a default pool contact would be (`sip:pc-default-<pool>@<domain>`) is left out: which
// address a pool's default contact got depends on the default SIP domain at its installation, which no
// snapshot records, so a bootstrap may give the pool the very address a user or an endpoint holds.
const history = fc
  .tuple(fc.subarray(setup), fc.array(topologyCommand, { minLength: 5, maxLength: 60, size: 'max' }))
  .map(([prefix, commands]) => [...prefix, ...commands])
  .filter((commands) => !commands.some((c) => JSON.stringify(c).includes('sip:pc-default-')));

/** The ledger a sequence of commands leaves, the refused ones skipped as the product refuses them. */
function ledgerOf(commands: readonly TopologyCommand[]): TopologyState {
  let state = initialState();
  for (const command of commands) {
    try {
      state = foldTopology(decide(command, state).events, state);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }
  return state;
}

const at = '2026-12-07T10:00:00.000Z';

describe('observations over random ledgers', () => {
  it('the expected snapshot of any ledger shows no drift against it', () => {
    fc.assert(
      fc.property(history, (commands) => {
        const state = ledgerOf(commands);
        expect(computeDrift(state, expectedSnapshot(state, at))).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('adopting a snapshot of any reachable ledger brings any other ledger to it, or is refused as a whole', () => {
    fc.assert(
      fc.property(history, history, (observedCommands, ledgerCommands) => {
        const observed: Snapshot = expectedSnapshot(ledgerOf(observedCommands), at);
        const ledger = ledgerOf(ledgerCommands);
        let adoption;
        try {
          adoption = decideAdoption(ledger, computeDrift(ledger, observed), 'reconcile', coverageOf(observed));
        } catch (error) {
          // A state no command sequence can reach from this ledger (a pool that was started, observed as
          // Installed; a legacy pool's version): refused with a code, never half-applied (the state is pure).
          if (error instanceof DomainError) return;
          throw error;
        }
        expect(computeDrift(adoption.state, observed)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('bootstrapping: adopting the snapshot of any reachable ledger into an empty one reproduces it', () => {
    fc.assert(
      fc.property(history, (commands) => {
        const original = ledgerOf(commands);
        const observed = expectedSnapshot(original, at);
        const adoption = decideAdoption(initialState(), computeDrift(initialState(), observed), 'bootstrap', coverageOf(observed));
        expect(computeDrift(adoption.state, observed)).toEqual([]);
        expect(expectedSnapshot(adoption.state, at)).toEqual(observed);
      }),
      { numRuns: 150 },
    );
  });
});
