import fc from 'fast-check';
import { parseFqdn } from '../../src/domain/shared/fqdn';
import { parseSipUri } from '../../src/domain/shared/sip-uri';
import type { ActiveServersChange, TopologyCommand } from '../../src/domain/topology';

/**
 * Random topology commands for property tests of the decider and of the projections. Small
 * vocabularies, so that commands collide on addresses, pools and servers; many are refused in the
 * state they meet, which is part of what the properties check.
 */

const fqdn = (name: string) => parseFqdn(name, 'fqdn');
const sip = (address: string) => parseSipUri(address, 'sipAddress');

const domains = ['contoso.com', 'fabrikam.com'].map(fqdn);
const addresses = [
  'sip:ocschat@contoso.com',
  'sip:persistentchat@contoso.com',
  'sip:alice@contoso.com',
  'sip:ocschat@fabrikam.com',
  // The default contact of pcpool.contoso.com, so principals and endpoints race the pool for it.
  'sip:pc-default-pcpool-contoso-com@contoso.com',
].map(sip);
// pc1 is also a server name, so pool FQDNs collide with server FQDNs.
const pools = ['pcpool.contoso.com', 'pcpool2.contoso.com', 'gc.contoso.com', 'gc2.contoso.com', 'pc1.contoso.com'].map(fqdn);
// Nine, one more than a pool may hold (R10).
const servers = ['pc1', 'pc2', 'pc3', 'pc4', 'pc5', 'pc6', 'pc7', 'pc8', 'pc9'].map((name) => fqdn(`${name}.contoso.com`));
const displayNames = ['Persistent Chat', 'persistent chat', 'Legacy Chat'];

const domain = fc.constantFrom(...domains);
const address = fc.constantFrom(...addresses);
// Mostly the pool the usual set-up installs, so endpoint and server commands find it.
const pool = fc.oneof({ arbitrary: fc.constant(pools[0]!), weight: 4 }, fc.constantFrom(...pools));
const server = fc.constantFrom(...servers);
const serverList = fc.uniqueArray(server, { minLength: 0, maxLength: 6 });
const reason = fc.constant('CHG-1');
const identity = fc.oneof(address.map(String), fc.constantFrom(...displayNames), fc.constant('nobody'));

const activeServersChange: fc.Arbitrary<ActiveServersChange> = fc.oneof(
  serverList.map((list) => ({ kind: 'add' as const, servers: list })),
  serverList.map((list) => ({ kind: 'remove' as const, servers: list })),
  serverList.map((list) => ({ kind: 'replace' as const, servers: list })),
  fc.constant({ kind: 'clear' as const }),
  fc.constant({ kind: 'swap' as const }),
);

/** Any topology command; endpoint, server and life-cycle commands weigh more: they are where invariants can break. */
export const topologyCommand: fc.Arbitrary<TopologyCommand> = fc.oneof(
  fc.record({ type: fc.constant('RegisterSipDomain' as const), domain, isDefault: fc.boolean() }),
  fc.record({ type: fc.constant('SetDefaultSipDomain' as const), domain }),
  fc.record({ type: fc.constant('RemoveSipDomain' as const), domain, reason }),
  fc.record({
    type: fc.constant('RegisterSipPrincipal' as const),
    sipAddress: address,
    kind: fc.constantFrom('user' as const, 'contact' as const),
    displayName: fc.constantFrom(...displayNames),
  }, { requiredKeys: ['type', 'sipAddress', 'kind'] }),
  fc.record({ type: fc.constant('DeleteSipPrincipal' as const), sipAddress: address, reason }),
  fc.record({
    type: fc.constant('DefineLegacyGroupChatPool' as const),
    fqdn: pool,
    version: fc.constantFrom('Lync2010' as const, 'OCS2007R2' as const),
    wellKnownSipAddress: address,
    databaseInstance: fc.constant('sql1\\gc'),
  }, { requiredKeys: ['type', 'fqdn', 'version', 'wellKnownSipAddress'] }),
  fc.record({ type: fc.constant('DecommissionLegacyPool' as const), fqdn: pool, reason }),
  fc.record({
    type: fc.constant('InstallPersistentChatPool' as const),
    fqdn: pool,
    servers: fc.uniqueArray(server, { minLength: 0, maxLength: 9 }),
    singleServer: fc.boolean(),
    site: fc.constantFrom('Redmond', 'Dublin'),
    complianceEnabled: fc.boolean(),
  }, { requiredKeys: ['type', 'fqdn', 'servers'] }),
  // A missing reason is refused; leave it out now and then.
  fc.record({ type: fc.constant('RemovePersistentChatPool' as const), fqdn: pool, reason }, { requiredKeys: ['type', 'fqdn'] }),
  { arbitrary: fc.record({ type: fc.constant('AddPersistentChatServer' as const), poolFqdn: pool, serverFqdn: server }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('RemovePersistentChatServer' as const), poolFqdn: pool, serverFqdn: server, reason }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('SetPersistentChatActiveServers' as const), poolFqdn: pool, change: activeServersChange }), weight: 3 },
  fc.record({ type: fc.constant('SetPersistentChatState' as const), poolFqdn: pool, poolState: fc.constantFrom('Normal' as const, 'FailedOver' as const) }),
  { arbitrary: fc.record({ type: fc.constant('StartPool' as const), fqdn: pool }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('StopPool' as const), fqdn: pool }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('CreateEndpoint' as const), sipAddress: address, poolFqdn: pool, displayName: fc.constantFrom(...displayNames) }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('CreateEndpoint' as const), sipAddress: address, poolFqdn: pool }), weight: 3 },
  { arbitrary: fc.record({ type: fc.constant('RemoveEndpoint' as const), identity, reason }, { requiredKeys: ['type', 'identity'] }), weight: 3 },
);
