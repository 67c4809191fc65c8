import type { RecordedEvent } from '../../src/event-store/event-store';
import type { Change, Projection, ReadModelView, Row } from '../runner/projection';
import { asTopologyEvent, topologyDeploymentOf } from '../topology/topology.projection';
import { distinguishedNameKey } from '../../src/domain/shared/distinguished-name';

/**
 * Which SIP URI reaches which pool: every address that routes a client to a pool, whoever owns it.
 * A Persistent Chat endpoint reaches its pool, a well-known user its legacy Group Chat pool (R15),
 * a default pool contact the pool it was created with (R7). Users and contacts reach no pool and
 * are not listed. Temporal, so "where did this address lead at position n" is one index lookup.
 */

export const DIRECTORY_TABLE = 'directory';

export type DirectoryEntryKind = 'endpoint' | 'wellKnownUser' | 'defaultPoolContact';
export type DirectoryPoolKind = 'persistentChat' | 'legacyGroupChat';

export const endpointDirectoryProjection: Projection = {
  name: 'endpoint_directory',
  version: 1,
  tables: [
    {
      name: DIRECTORY_TABLE,
      key: ['deployment', 'sip_address'],
      // The `_key` columns hold the lower-cased display and distinguished names: -Identity matches
      // them without regard to case (R6), by index rather than by scanning.
      columns: ['kind', 'pool_fqdn', 'pool_kind', 'display_name', 'display_name_key', 'distinguished_name', 'distinguished_name_key'],
      temporal: true,
      indexes: [
        ['deployment', 'pool_fqdn'],
        ['deployment', 'display_name_key'],
        ['deployment', 'distinguished_name_key'],
      ],
    },
  ],
  project(event: RecordedEvent, view: ReadModelView): readonly Change[] {
    const deployment = topologyDeploymentOf(event.streamId);
    if (deployment === undefined) return [];
    const topologyEvent = asTopologyEvent(event);
    switch (topologyEvent.type) {
      case 'SipPrincipalRegistered': {
        const { sipAddress, kind, displayName, legacyPoolFqdn } = topologyEvent.data;
        // Users and contacts route nowhere; R3 keeps them from taking an address listed here.
        if (kind !== 'wellKnownUser' || legacyPoolFqdn === null) return [];
        return [put(deployment, sipAddress, 'wellKnownUser', legacyPoolFqdn, 'legacyGroupChat', displayName, null)];
      }
      case 'SipPrincipalDeleted':
        return topologyEvent.data.kind === 'wellKnownUser' ? removeIf(view, deployment, topologyEvent.data.sipAddress, 'wellKnownUser') : [];
      case 'PersistentChatPoolInstalled': {
        const { fqdn, defaultContactSipAddress } = topologyEvent.data;
        return [put(deployment, defaultContactSipAddress, 'defaultPoolContact', fqdn, 'persistentChat', null, null)];
      }
      case 'PersistentChatPoolRemoved':
        // The default pool contact goes with its pool (R7).
        return removeIf(view, deployment, topologyEvent.data.defaultContactSipAddress, 'defaultPoolContact', topologyEvent.data.fqdn);
      case 'PersistentChatEndpointCreated': {
        const { sipAddress, poolFqdn, displayName, distinguishedName } = topologyEvent.data;
        return [put(deployment, sipAddress, 'endpoint', poolFqdn, 'persistentChat', displayName, distinguishedName)];
      }
      case 'PersistentChatEndpointRemoved':
        return removeIf(view, deployment, topologyEvent.data.sipAddress, 'endpoint');
      default:
        // No other event changes where an address leads.
        return [];
    }
  },
};

function put(
  deployment: string,
  sipAddress: string,
  kind: DirectoryEntryKind,
  poolFqdn: string,
  poolKind: DirectoryPoolKind,
  displayName: string | null,
  distinguishedName: string | null,
): Change {
  return {
    kind: 'put',
    table: DIRECTORY_TABLE,
    row: {
      deployment,
      sip_address: sipAddress,
      kind,
      pool_fqdn: poolFqdn,
      pool_kind: poolKind,
      display_name: displayName,
      display_name_key: displayName?.toLowerCase() ?? null,
      distinguished_name: distinguishedName,
      // The same key as before for a DN without spaces after its commas: stored rows need no rebuild.
      distinguished_name_key: distinguishedName === null ? null : distinguishedNameKey(distinguishedName),
    },
  };
}

/**
 * Removes the address only while it is still the owner the event names, as the domain's `evolve`
 * only removes what the event's own collection holds.
 */
function removeIf(view: ReadModelView, deployment: string, sipAddress: string, kind: DirectoryEntryKind, poolFqdn?: string): Change[] {
  const key: Row = { deployment, sip_address: sipAddress };
  const current = view.get(DIRECTORY_TABLE, key);
  if (!current || current['kind'] !== kind) return [];
  if (poolFqdn !== undefined && current['pool_fqdn'] !== poolFqdn) return [];
  return [{ kind: 'delete', table: DIRECTORY_TABLE, key }];
}
