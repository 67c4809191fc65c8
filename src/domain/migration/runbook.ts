import { type MigrationPlan, stepInfo } from './plan';

/** The PowerShell an administrator runs for a step, and for its inverse (what a rollback undoes). */
export interface StepCmdlets {
  readonly run: readonly string[];
  readonly inverse: readonly string[];
  /** What the inverse does, in words; also said when there is nothing to undo. */
  readonly inverseDescription: string;
}

const placeholder = (name: string): string => `<<${name}>>`;

/** `'value'` for PowerShell: single quotes, doubled inside. */
function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The cmdlets of each step (R20: the runbook prints each step's PowerShell and its inverse).
 * Legacy Group Chat runs outside Lync Server's management shell, so its Windows services are
 * stopped and started directly on its computers.
 */
export function stepCmdlets(plan: MigrationPlan, step: number): StepCmdlets {
  const legacyDb = plan.legacyDatabaseInstance ?? placeholder('LEGACY-SQL-INSTANCE');
  const targetDb = plan.targetDatabaseInstance ?? placeholder('TARGET-SQL-INSTANCE');
  const file = quoted(plan.export.fileName);
  const wellKnown = plan.wellKnownSipAddress ?? placeholder('WELL-KNOWN-SIP-ADDRESS');
  const legacyComputers = plan.legacyComputers.map(quoted).join(', ');
  switch (stepInfo(step).key) {
    case 'stopLegacyPool':
      return {
        run: [`Invoke-Command -ComputerName ${legacyComputers} -ScriptBlock { Get-Service -DisplayName '*Group Chat*' | Stop-Service }`],
        inverse: [`Invoke-Command -ComputerName ${legacyComputers} -ScriptBlock { Get-Service -DisplayName '*Group Chat*' | Start-Service }`],
        inverseDescription: `start ${plan.legacyPoolFqdn} again`,
      };
    case 'exportLegacyData':
      return {
        run: [
          `Export-CsPersistentChatData -DBInstance ${quoted(legacyDb)} -FileName ${file} -Level ${plan.export.level}` +
            (plan.export.scope ? ` -Scope ${quoted(plan.export.scope)}` : ''),
        ],
        inverse: [],
        inverseDescription: 'nothing to undo: the export only reads the legacy database',
      };
    case 'importData':
      return {
        run: [
          `Import-CsPersistentChatData -DBInstance ${quoted(targetDb)} -FileName ${file} -WhatIf`,
          `Import-CsPersistentChatData -DBInstance ${quoted(targetDb)} -FileName ${file}`,
        ],
        inverse: [`# Rooms the import created stay in ${plan.targetPoolFqdn}: review them with Get-CsPersistentChatRoom and remove by hand if needed.`],
        inverseDescription: 'mark the import reverted; the imported rooms stay (R19)',
      };
    case 'deleteWellKnownUser':
      return {
        run: [`Disable-CsUser -Identity ${quoted(wellKnown)} -Confirm:$false`],
        inverse: [
          `Enable-CsUser -Identity ${quoted(placeholder('WELL-KNOWN-USER-AD-IDENTITY'))} -SipAddress ${quoted(wellKnown)} -RegistrarPool ${quoted(placeholder('REGISTRAR-POOL'))}` +
            (plan.wellKnownUserDisplayName ? `  # display name: ${plan.wellKnownUserDisplayName}` : ''),
        ],
        inverseDescription: `re-create the well-known user ${wellKnown} with its former attributes`,
      };
    case 'createLegacyEndpoint':
      return {
        run: [
          `New-CsPersistentChatEndpoint -SipAddress ${wellKnown} -PersistentChatPoolFqdn ${plan.targetPoolFqdn}` +
            (plan.endpointDisplayName ? ` -DisplayName ${quoted(plan.endpointDisplayName)}` : ''),
        ],
        inverse: [`Remove-CsPersistentChatEndpoint -Identity ${wellKnown} -Confirm:$false`],
        inverseDescription: `remove the endpoint ${wellKnown}`,
      };
    case 'startTargetPool':
      return {
        run: plan.targetServers.map((server) => `Start-CsWindowsService -Name RTCCHAT -ComputerName ${server}`),
        inverse: plan.targetServers.map((server) => `Stop-CsWindowsService -Name RTCCHAT -ComputerName ${server}`),
        inverseDescription: `stop ${plan.targetPoolFqdn} again`,
      };
    case 'verifyContinuity':
      return {
        run: [
          `Get-CsPersistentChatEndpoint -Identity ${wellKnown}`,
          `Get-CsPersistentChatState -Identity 'service:PersistentChatServer:${plan.targetPoolFqdn}'`,
        ],
        inverse: [],
        inverseDescription: 'nothing to undo: verification only reads',
      };
  }
}

/** The whole runbook as a `.ps1` script: each step, then its inverse commented out for a rollback. */
export function runbookOf(plan: MigrationPlan): string {
  const lines: string[] = [
    `# Migration ${plan.migrationId}`,
    `# Legacy Group Chat pool ${plan.legacyPoolFqdn}${plan.legacyVersion ? ` (${plan.legacyVersion})` : ''} -> Persistent Chat pool ${plan.targetPoolFqdn}`,
    `# Well-known SIP URI: ${plan.wellKnownSipAddress ?? '(unknown)'}`,
    ...(plan.reason ? [`# Reason: ${plan.reason}`] : []),
    '#',
    '# Run the steps in order. Steps 1 to 5 are the offline window: legacy clients cannot connect',
    '# until step 6 starts the Persistent Chat pool. Record each step in topology-ledger as you go',
    '# (RunMigration), so that a rollback knows what to undo; the inverse of each step follows it,',
    '# commented out, and a rollback runs them from the last completed step back to the first.',
  ];
  if (plan.placeholders.length > 0) {
    lines.push('#', '# Replace these placeholders before running:');
    for (const p of plan.placeholders) lines.push(`#   <<${p.name}>>: ${p.description}`);
  }
  if (plan.notMigrated.length > 0) {
    lines.push('#', '# Not migrated, or changed on the way (handle by hand):');
    for (const item of plan.notMigrated) lines.push(`#   - ${item.rule}: ${item.description}`);
  }
  lines.push('', "$ErrorActionPreference = 'Stop'");
  for (const step of plan.steps) {
    const cmdlets = stepCmdlets(plan, step.step);
    lines.push('', `# --- Step ${step.step}: ${step.title}${step.offlineWindow ? ' (offline window)' : ''}`);
    lines.push(...cmdlets.run);
    lines.push(`# Inverse of step ${step.step}: ${cmdlets.inverseDescription}`);
    for (const line of cmdlets.inverse) lines.push(line.startsWith('#') ? line : `# ${line}`);
  }
  lines.push('', `# Later, as a separate change: decommission ${plan.legacyPoolFqdn} (DecommissionLegacyPool). After that the migration can no longer be rolled back (R20).`, '');
  return lines.join('\r\n');
}
