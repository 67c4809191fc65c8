<#
.SYNOPSIS
  Writes a topology-ledger snapshot (JSON, schema at GET /api/observations/schema) of a Lync Server 2013 /
  Skype for Business Persistent Chat deployment. Run it in the Lync Server Management Shell, then send the
  file with `topo observe snapshot.json` or POST /api/observations.

.DESCRIPTION
  Reads only properties that Microsoft's cmdlet reference names (MicrosoftDocs/office-docs-powershell,
  skype/skype-ps/SkypeForBusiness/):
    Get-CsSipDomain.md              Identity, IsDefault
    Get-CsService.md                -PersistentChatServer; PoolFqdn
    Get-CsPool.md                   Identity, Computers
    Get-CsPersistentChatState.md    -Identity PersistentChatServer:<pool fqdn>; PoolState
    Get-CsPersistentChatEndpoint.md -PersistentChatPoolFqdn; Identity (the contact's distinguished name,
                                    CN={guid},CN=Application Contacts,...: the ledger keeps it)
    Get-CsAdContact.md              -Identity; SipAddress, DisplayName (an endpoint is a contact object)
    Get-CsUser.md                   -Identity; SipAddress, DisplayName
  Not observed (so not compared): sites (SiteId is an id, the ledger keeps the site's name), active servers,
  pool status; an endpoint's display name when Get-CsAdContact cannot read its contact.
  Legacy Group Chat pools are not in the Central Management Store: name them with -LegacyPool.

.EXAMPLE
  .\Get-TopologySnapshot.ps1 -LegacyPool @{ Fqdn = 'gc.contoso.com'; Version = 'Lync2010'; WellKnownSipAddress = 'sip:ocschat@contoso.com' } -Path snapshot.json
#>
[CmdletBinding()]
param(
    [Parameter()] [hashtable[]] $LegacyPool = @(),
    [Parameter()] [string] $Path = 'snapshot.json'
)

$ErrorActionPreference = 'Stop'

$sipDomains = @(Get-CsSipDomain | ForEach-Object {
    [ordered]@{ name = [string]$_.Identity; isDefault = [bool]$_.IsDefault }
})

$pools = @()
$endpoints = @()
foreach ($service in @(Get-CsService -PersistentChatServer)) {
    $poolFqdn = [string]$service.PoolFqdn
    $computers = @((Get-CsPool -Identity $poolFqdn).Computers | ForEach-Object { [string]$_ })
    $state = Get-CsPersistentChatState -Identity ('PersistentChatServer:' + $poolFqdn)
    $pools += [ordered]@{
        fqdn      = $poolFqdn
        servers   = $computers
        poolState = [string]$state.PoolState
    }
    foreach ($endpoint in @(Get-CsPersistentChatEndpoint -PersistentChatPoolFqdn $poolFqdn)) {
        # An endpoint is a contact object: its SIP address and display name are read as Get-CsAdContact
        # documents them; when the contact cannot be read, its Identity stands alone. Its Identity is the
        # contact's distinguished name, kept so that an adopted endpoint has the deployment's contact.
        $contact = Get-CsAdContact -Identity $endpoint.Identity -ErrorAction SilentlyContinue
        $entry = [ordered]@{ sipAddress = [string]$endpoint.Identity; poolFqdn = $poolFqdn }
        if ([string]$endpoint.Identity -like 'CN=*') { $entry['distinguishedName'] = [string]$endpoint.Identity }
        if ($null -ne $contact -and $contact.SipAddress) {
            $entry['sipAddress'] = [string]$contact.SipAddress
            $entry['displayName'] = [string]$contact.DisplayName
        }
        $endpoints += $entry
    }
}

$legacyPools = @()
$principals = @()
$lookups = @()
foreach ($legacy in $LegacyPool) {
    $legacyPools += [ordered]@{ fqdn = $legacy.Fqdn; version = $legacy.Version; wellKnownSipAddress = $legacy.WellKnownSipAddress }
    $lookups += $legacy.WellKnownSipAddress
    $user = Get-CsUser -Identity $legacy.WellKnownSipAddress -ErrorAction SilentlyContinue
    if ($null -ne $user) {
        $principals += [ordered]@{ sipAddress = [string]$user.SipAddress; kind = 'wellKnownUser'; displayName = [string]$user.DisplayName; legacyPoolFqdn = $legacy.Fqdn }
    }
}

$snapshot = [ordered]@{
    format              = 'topology-ledger.snapshot'
    schemaVersion       = 1
    collectedAt         = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ')
    collector           = [ordered]@{ name = 'Get-TopologySnapshot.ps1'; version = '1'; computer = $env:COMPUTERNAME }
    sipDomains          = $sipDomains
    persistentChatPools = $pools
    legacyPools         = $legacyPools
    endpoints           = $endpoints
    principals          = $principals
    principalLookups    = $lookups
}
$snapshot | ConvertTo-Json -Depth 6 | Set-Content -Path $Path -Encoding UTF8
Write-Output "Snapshot written to $Path"
