import { psComment, psList, psString } from '../shared/powershell';
import { type DriftItem, type EntityValue, type EntityView, parseEntityKey } from './drift';

/**
 * The way back: the cmdlet lines that would bring the deployment to the ledger's state, for the open
 * drift of an observation (the inverse of adopting it). What the Lync Server Management Shell can
 * change is a cmdlet line, in a form its page documents; what it cannot (a pool is defined in
 * Topology Builder and published; a user or contact lives in Active Directory; a legacy Group Chat
 * pool is outside the Central Management Store) is a manual item, as comments. Every value is data
 * (`psString`, `psComment`), as in a migration's runbook.
 *
 * Pages (Skype for Business Server / Lync Server 2013 cmdlet reference):
 * New-CsPersistentChatEndpoint, Remove-CsPersistentChatEndpoint (there is no Set-: R5, remove and
 * create again), Set-CsPersistentChatState (-PoolState Normal|FailedOver),
 * Set-CsPersistentChatActiveServer (-ActiveServers @{Add=...} / @{Remove=...}), New-CsSipDomain,
 * Remove-CsSipDomain, Set-CsSipDomain (-IsDefault).
 */
export interface ObservationRunbookInput {
  readonly deployment: string;
  readonly observationId: string;
  readonly collectedAt: string | null;
  readonly items: readonly DriftItem[];
}

const text = (value: EntityValue | undefined): string => (typeof value === 'string' ? value : '');
const list = (value: EntityValue | undefined): readonly string[] => (Array.isArray(value) ? (value as readonly string[]) : []);
const poolIdentity = (fqdn: string): string => psString(`PersistentChatServer:${fqdn}`);

/** What one drift item takes, as lines: cmdlet lines, or a manual item in comments. */
function linesFor(item: DriftItem): string[] {
  const parsed = parseEntityKey(item.entity);
  const ledger: EntityView = item.ledger ?? {};
  const observed: EntityView = item.observed ?? {};
  const manual = (what: string): string[] => psComment(`manual: ${what}`);
  if (!parsed) return manual(`${item.entity}: not an entity the product models`);
  const id = parsed.id;
  switch (parsed.kind) {
    case 'endpoint': {
      const create = (): string =>
        `New-CsPersistentChatEndpoint -SipAddress ${psString(id)} -PersistentChatPoolFqdn ${psString(text(ledger['poolFqdn']))}` +
        (text(ledger['displayName']) !== '' ? ` -DisplayName ${psString(text(ledger['displayName']))}` : '');
      const remove = `Remove-CsPersistentChatEndpoint -Identity ${psString(id)} -Confirm:$false`;
      if (item.kind === 'missing_in_ledger') return [remove];
      if (item.kind === 'missing_in_deployment') return [create()];
      // An endpoint has no Set- cmdlet (R5): removed, then created as the ledger has it.
      return [...psComment('no Set- cmdlet for an endpoint (R5): removed, then created again as the ledger has it'), remove, create()];
    }
    case 'persistentChatPool': {
      if (item.kind !== 'differs') {
        return item.kind === 'missing_in_deployment'
          ? manual(`Persistent Chat pool ${id} is in the ledger but not in the deployment: define it in Topology Builder, publish the topology, install its databases, run setup on its servers (${list(ledger['servers']).join(', ')})`)
          : manual(`Persistent Chat pool ${id} is in the deployment but not in the ledger: remove it from the topology in Topology Builder and publish, or adopt it`);
      }
      const lines: string[] = [];
      const fields = item.fields ?? [];
      if (fields.includes('poolState') && text(ledger['poolState']) !== '') {
        lines.push(`Set-CsPersistentChatState -Identity ${poolIdentity(id)} -PoolState ${psString(text(ledger['poolState']))}`);
      }
      if (fields.includes('activeServers')) {
        const want = new Set(list(ledger['activeServers']));
        const have = new Set(list(observed['activeServers']));
        const remove = [...have].filter((s) => !want.has(s)).sort();
        const add = [...want].filter((s) => !have.has(s)).sort();
        if (remove.length > 0) lines.push(`Set-CsPersistentChatActiveServer -Identity ${poolIdentity(id)} -ActiveServers @{Remove=${psList(remove)}}`);
        if (add.length > 0) lines.push(`Set-CsPersistentChatActiveServer -Identity ${poolIdentity(id)} -ActiveServers @{Add=${psList(add)}}`);
      }
      const other = fields.filter((f) => f !== 'poolState' && f !== 'activeServers');
      if (other.length > 0) lines.push(...manual(`Persistent Chat pool ${id}: ${other.join(', ')} differ (${describe(ledger, observed, other)}); change them in Topology Builder and publish, or start/stop the pool's services`));
      return lines;
    }
    case 'sipDomain': {
      if (item.kind === 'missing_in_deployment') {
        return [`New-CsSipDomain -Identity ${psString(id)}${ledger['isDefault'] === true ? ' -IsDefault $True' : ''}`];
      }
      if (item.kind === 'missing_in_ledger') return [`Remove-CsSipDomain -Identity ${psString(id)} -Confirm:$false`];
      return ledger['isDefault'] === true ? [`Set-CsSipDomain -Identity ${psString(id)} -IsDefault $True`] : manual(`SIP domain ${id}: another domain is the default in the ledger`);
    }
    case 'principal':
      return manual(
        item.kind === 'missing_in_deployment'
          ? `SIP principal ${id} (${text(ledger['kind'])}) is in the ledger but not in Active Directory: create and enable it for Lync`
          : item.kind === 'missing_in_ledger'
            ? `SIP principal ${id} is in Active Directory but not in the ledger: disable it for Lync, or adopt it`
            : `SIP principal ${id}: ${(item.fields ?? []).join(', ')} differ (${describe(ledger, observed, item.fields ?? [])}); change it in Active Directory`,
      );
    case 'legacyPool':
      return manual(`legacy Group Chat pool ${id} (outside the Central Management Store): ${item.kind.replace(/_/g, ' ')}${item.fields ? ` (${describe(ledger, observed, item.fields)})` : ''}; change it with the legacy Group Chat administration tool`);
  }
}

function describe(ledger: EntityView, observed: EntityView, fields: readonly string[]): string {
  const show = (v: EntityValue | undefined): string => (v === undefined || v === null ? '-' : Array.isArray(v) ? v.join(', ') : String(v));
  return fields.map((f) => `${f}: ledger ${show(ledger[f])}, deployment ${show(observed[f])}`).join('; ');
}

/** The runbook as text (CRLF, as a `.ps1` is kept on Windows). */
export function observationRunbook(input: ObservationRunbookInput): string {
  const lines: string[] = [
    ...psComment(`Bring deployment ${input.deployment} back to the ledger's state: the open drift of observation ${input.observationId}`),
    ...psComment(`(collected ${input.collectedAt ?? 'at an unknown time'}). Run in the Lync Server Management Shell; the inverse of adopting the drift.`),
    ...psComment('Review every line first. Lines marked "manual" are for Topology Builder or Active Directory.'),
    "$ErrorActionPreference = 'Stop'",
  ];
  if (input.items.length === 0) lines.push('', ...psComment('No open drift: the deployment matched the ledger when it was observed.'));
  for (const item of input.items) lines.push('', ...psComment(`${item.entity}: ${item.kind.replace(/_/g, ' ')}`), ...linesFor(item));
  return `${lines.join('\r\n')}\r\n`;
}
