import { psComment, psList, psString } from '../shared/powershell';
import { hasUnprintable, printable } from '../shared/printable';

export { psComment, psString } from '../shared/powershell';
import { type MigrationPlan, stepInfo } from './plan';

/**
 * The PowerShell runbook of a migration (R20).
 *
 * What a runbook guarantees, whatever was recorded: every value is written as data PowerShell cannot
 * run. A value is either inside a single-quoted string (`psString`) or inside a line comment
 * (`psComment`); no value ever stands where PowerShell reads a command, an operator or a variable.
 * Every line is a comment, a cmdlet line of the forms below, or `$ErrorActionPreference = 'Stop'`.
 *
 * Each cmdlet line is a form that Microsoft's page for the cmdlet documents; the page is cited beside it
 * (the Skype for Business Server / Lync Server 2013 cmdlet reference, learn.microsoft.com/powershell/module/skype/).
 */

/** The PowerShell an administrator runs for a step, and for its inverse (what a rollback undoes). */
export interface StepCmdlets {
  readonly run: readonly string[];
  readonly inverse: readonly string[];
  /** What the inverse does, in words; also said when there is nothing to undo. */
  readonly inverseDescription: string;
}

const placeholder = (name: string): string => `<<${name}>>`;

/** `-Scope` takes a list of category names (System.Collections.Generic.List[String]); recorded as one text, comma-separated. */
export function scopeCategories(scope: string): string[] {
  return scope
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

/** The Windows service of the Persistent Chat server role (what Get-CsWindowsService lists on a Persistent Chat server). */
const PERSISTENT_CHAT_SERVICE = 'RTCCHAT';

/** Where the target database's backup is written: beside the export file. */
function backupFileName(plan: MigrationPlan): string {
  const folder = plan.export.fileName.includes('\\') ? plan.export.fileName.slice(0, plan.export.fileName.lastIndexOf('\\') + 1) : 'C:\\GroupChatMigration\\';
  return `${folder}${plan.targetPoolFqdn}-before-import-${plan.migrationId.slice(0, 8)}.zip`;
}

/**
 * The cmdlets of each step (R20: the runbook prints each step's PowerShell and its inverse).
 * Legacy Group Chat runs outside Lync Server's management shell, so its Windows services are
 * stopped and started directly on its computers.
 */
export function stepCmdlets(plan: MigrationPlan, step: number): StepCmdlets {
  const legacyDb = psString(plan.legacyDatabaseInstance ?? placeholder('LEGACY-SQL-INSTANCE'));
  const targetDb = psString(plan.targetDatabaseInstance ?? placeholder('TARGET-SQL-INSTANCE'));
  const file = psString(plan.export.fileName);
  const wellKnownText = plan.wellKnownSipAddress ?? placeholder('WELL-KNOWN-SIP-ADDRESS');
  const wellKnown = psString(wellKnownText);
  const targetPool = psString(plan.targetPoolFqdn);
  const legacyComputers = psList(plan.legacyComputers);
  // Invoke-Command -ComputerName <String[]> -ScriptBlock <ScriptBlock>; Get-Service -DisplayName <String[]> (wildcards)
  // piped to Stop-Service / Start-Service: learn.microsoft.com/powershell/module/microsoft.powershell.core/invoke-command,
  // .../microsoft.powershell.management/get-service, .../stop-service, .../start-service.
  const onLegacyComputers = (verb: 'Stop-Service' | 'Start-Service'): string =>
    `Invoke-Command -ComputerName ${legacyComputers} -ScriptBlock { Get-Service -DisplayName '*Group Chat*' | ${verb} }`;
  // Stop-CsWindowsService / Start-CsWindowsService -Name <String> -ComputerName <String>: Example 2 of
  // skype/stop-cswindowsservice and skype/start-cswindowsservice.
  const onTargetServers = (verb: 'Stop-CsWindowsService' | 'Start-CsWindowsService'): string[] =>
    plan.targetServers.map((server) => `${verb} -Name ${psString(PERSISTENT_CHAT_SERVICE)} -ComputerName ${psString(server)}`);
  switch (stepInfo(step).key) {
    case 'stopLegacyPool':
      return {
        run: [onLegacyComputers('Stop-Service')],
        inverse: [onLegacyComputers('Start-Service')],
        inverseDescription: `start ${plan.legacyPoolFqdn} again`,
      };
    case 'exportLegacyData': {
      // skype/export-cspersistentchatdata, parameter set FileName:
      // Export-CsPersistentChatData -DBInstance <String> [-FileName <String>] [-Level <ExportLevel>]
      // [-Scope <System.Collections.Generic.List`1[System.String]>]: -Scope is a list of category names.
      const scope = plan.export.scope ? scopeCategories(plan.export.scope) : [];
      return {
        run: [
          `Export-CsPersistentChatData -DBInstance ${legacyDb} -FileName ${file} -Level ${psString(plan.export.level)}` +
            (scope.length > 0 ? ` -Scope ${psList(scope)}` : ''),
        ],
        inverse: [],
        inverseDescription: 'nothing to undo: the export only reads the legacy database',
      };
    }
    case 'importData': {
      const backup = psString(backupFileName(plan));
      return {
        run: [
          // "Migration from Lync Server 2010, Group Chat or Office Communications Server 2007 R2 Group Chat to
          // Lync Server 2013, Persistent Chat Server" (Lync Server 2013 deployment guide, migration steps): the
          // Persistent Chat services of the target pool are stopped and its database backed up before the import.
          ...psComment(`Before the import, as the migration guide says: stop the Persistent Chat services of ${plan.targetPoolFqdn}, then back up its database.`),
          ...onTargetServers('Stop-CsWindowsService'),
          // skype/export-cspersistentchatdata, Example 1 form (-DBInstance, -FileName): a full export of the
          // target database, which Import-CsPersistentChatData can read back.
          `Export-CsPersistentChatData -DBInstance ${targetDb} -FileName ${backup}`,
          // skype/import-cspersistentchatdata, parameter set FileName: -DBInstance <String> -FileName <String> [-WhatIf].
          `Import-CsPersistentChatData -DBInstance ${targetDb} -FileName ${file} -WhatIf`,
          `Import-CsPersistentChatData -DBInstance ${targetDb} -FileName ${file}`,
        ],
        inverse: psComment(
          `Rooms the import created stay in ${plan.targetPoolFqdn}: review them with Get-CsPersistentChatRoom and remove by hand if needed. ` +
            `The target database as it was before the import is in ${backupFileName(plan)}.`,
        ),
        inverseDescription: 'mark the import reverted; the imported rooms stay (R19)',
      };
    }
    case 'deleteWellKnownUser':
      return {
        run: [
          // skype/disable-csuser: Disable-CsUser [-Identity] <UserIdParameter> (a SIP address is an Identity) [-Confirm].
          // Its page says it removes the account's Lync Server attributes and does not remove the Active Directory account.
          ...psComment(
            `The guide deletes the well-known user ${wellKnownText}. This line releases its SIP URI: Disable-CsUser removes every Lync Server ` +
              'attribute of the account (the SIP URI with them); it does NOT delete the Active Directory account, which stays, disabled for Lync Server.',
          ),
          `Disable-CsUser -Identity ${wellKnown} -Confirm:$false`,
        ],
        inverse: [
          // skype/enable-csuser: Enable-CsUser [-Identity] <UserIdParameter> -RegistrarPool <Fqdn> -SipAddress <String>.
          `Enable-CsUser -Identity ${psString(placeholder('WELL-KNOWN-USER-AD-IDENTITY'))} -SipAddress ${wellKnown} -RegistrarPool ${psString(placeholder('REGISTRAR-POOL'))}`,
          ...(plan.wellKnownUserDisplayName ? psComment(`The well-known user's display name was: ${plan.wellKnownUserDisplayName}`) : []),
        ],
        inverseDescription: `re-create the well-known user ${wellKnownText} with its former attributes`,
      };
    case 'createLegacyEndpoint':
      return {
        run: [
          // skype/new-cspersistentchatendpoint, Example 1: -SipAddress "sip:…" -PersistentChatPoolFqdn "…" -DisplayName "…".
          `New-CsPersistentChatEndpoint -SipAddress ${wellKnown} -PersistentChatPoolFqdn ${targetPool}` +
            (plan.endpointDisplayName ? ` -DisplayName ${psString(plan.endpointDisplayName)}` : ''),
        ],
        // skype/remove-cspersistentchatendpoint, Example 1: -Identity "sip:…" ([-Confirm]).
        inverse: [`Remove-CsPersistentChatEndpoint -Identity ${wellKnown} -Confirm:$false`],
        inverseDescription: `remove the endpoint ${wellKnownText}`,
      };
    case 'startTargetPool':
      return {
        run: onTargetServers('Start-CsWindowsService'),
        inverse: onTargetServers('Stop-CsWindowsService'),
        inverseDescription: `stop ${plan.targetPoolFqdn} again`,
      };
    case 'verifyContinuity':
      return {
        run: [
          // skype/get-cspersistentchatendpoint, Example 2: -Identity "sip:…".
          `Get-CsPersistentChatEndpoint -Identity ${wellKnown}`,
          // skype/get-cspersistentchatstate, Example 2 and -Identity: "PersistentChatServer:<pool FQDN>".
          `Get-CsPersistentChatState -Identity ${psString(`PersistentChatServer:${plan.targetPoolFqdn}`)}`,
        ],
        inverse: [],
        inverseDescription: 'nothing to undo: verification only reads',
      };
  }
}

/** The whole runbook as a `.ps1` script: each step, then its inverse commented out for a rollback. */
export function runbookOf(plan: MigrationPlan): string {
  const lines: string[] = [
    ...psComment(`Migration ${plan.migrationId}`),
    ...psComment(
      `Legacy Group Chat pool ${plan.legacyPoolFqdn}${plan.legacyVersion ? ` (${plan.legacyVersion})` : ''} -> Persistent Chat pool ${plan.targetPoolFqdn}`,
    ),
    ...psComment(`Well-known SIP URI: ${plan.wellKnownSipAddress ?? '(unknown)'}`),
    ...(plan.reason ? psComment(`Reason: ${plan.reason}`) : []),
    '#',
    '# Run the steps in order. Steps 1 to 5 are the offline window: legacy clients cannot connect',
    '# until step 6 starts the Persistent Chat pool. Record each step in topology-ledger as you go',
    '# (RunMigration), so that a rollback knows what to undo; the inverse of each step follows it,',
    '# commented out, and a rollback runs them from the last completed step back to the first.',
  ];
  // A value recorded before the plain-text rule held may carry control characters into a string: PowerShell
  // still reads it as data, but the operator is told, with the value shown escaped.
  const strings: [string, string | null][] = [
    ['export file', plan.export.fileName],
    ['export scope', plan.export.scope],
    ['endpoint display name', plan.endpointDisplayName],
  ];
  for (const [what, value] of strings) {
    if (value !== null && hasUnprintable(value)) {
      lines.push('#', ...psComment(`WARNING: the recorded ${what} holds control or invisible characters; check it before running: ${printable(value)}`));
    }
  }
  if (plan.placeholders.length > 0) {
    lines.push('#', '# Replace these placeholders before running:');
    for (const p of plan.placeholders) lines.push(...psComment(`  <<${p.name}>>: ${p.description}`));
  }
  if (plan.notMigrated.length > 0) {
    lines.push('#', '# Not migrated, or changed on the way (handle by hand):');
    for (const item of plan.notMigrated) lines.push(...psComment(`  - ${item.rule}: ${item.description}`));
  }
  lines.push('', "$ErrorActionPreference = 'Stop'");
  for (const step of plan.steps) {
    const cmdlets = stepCmdlets(plan, step.step);
    lines.push('', ...psComment(`--- Step ${step.step}: ${step.title}${step.offlineWindow ? ' (offline window)' : ''}`));
    lines.push(...cmdlets.run);
    lines.push(...psComment(`Inverse of step ${step.step}: ${cmdlets.inverseDescription}`));
    // Commented out through psComment too, so that no line break inside a value can end the comment.
    for (const line of cmdlets.inverse) lines.push(...(line.startsWith('#') ? [line] : psComment(line)));
  }
  lines.push(
    '',
    ...psComment(
      `Later, as a separate change: decommission ${plan.legacyPoolFqdn} (DecommissionLegacyPool). After that the migration can no longer be rolled back (R20).`,
    ),
    '',
  );
  return lines.join('\r\n');
}
