import { randomUUID } from 'node:crypto';
import { decide, evolve, initialState, parseFqdn, parseSipUri, TopologyCommand, TopologyState } from '../../src/domain';
import type { EventStore, JsonObject } from '../../src/event-store/event-store';

/**
 * Writes a realistic history straight to a store: per deployment a SIP domain, a legacy pool with
 * its well-known user, a Persistent Chat pool, then endpoints created and some removed. Every
 * command goes through the real decider, so projections see only events the product could write.
 */
export async function writeHistory(store: EventStore, deployments: number, endpointsPerDeployment: number): Promise<number> {
  let written = 0;
  for (let d = 0; d < deployments; d++) {
    const deployment = `org${d}`;
    const commands: TopologyCommand[] = [
      { type: 'RegisterSipDomain', domain: parseFqdn('contoso.com', 'domain') },
      {
        type: 'DefineLegacyGroupChatPool',
        fqdn: parseFqdn('gc.contoso.com', 'fqdn'),
        version: 'Lync2010',
        wellKnownSipAddress: parseSipUri('sip:ocschat@contoso.com', 'wellKnownSipAddress'),
      },
      { type: 'InstallPersistentChatPool', fqdn: parseFqdn('pcpool.contoso.com', 'fqdn'), servers: [parseFqdn('pc1.contoso.com', 's'), parseFqdn('pc2.contoso.com', 's')] },
    ];
    for (let e = 0; e < endpointsPerDeployment; e++) {
      commands.push({ type: 'CreateEndpoint', sipAddress: parseSipUri(`sip:room${e}@contoso.com`, 'sipAddress'), poolFqdn: parseFqdn('pcpool.contoso.com', 'p'), displayName: `Room ${e}` });
      if (e % 5 === 4) commands.push({ type: 'RemoveEndpoint', identity: `sip:room${e - 2}@contoso.com`, reason: 'tidy-up' });
    }
    let state: TopologyState = initialState();
    let revision = -1;
    for (const command of commands) {
      const { events } = decide(command, state);
      for (const event of events) state = evolve(state, event);
      const metadata: JsonObject = { deployment, command: command.type, actor: 'history', occurredAt: new Date().toISOString(), commandId: randomUUID() };
      const result = await store.appendToStream(
        `topology-${deployment}`,
        events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as unknown as JsonObject, metadata })),
        { expectedRevision: revision < 0 ? 'no_stream' : revision },
      );
      revision = result.nextExpectedRevision;
      written += events.length;
    }
  }
  return written;
}
