/**
 * `npm run bench:observe`: reconciling a snapshot against a ledger of the same size beside parsing the
 * document, in the same run. Target and results: bench/README.md.
 */
import { performance } from 'node:perf_hooks';
import { parseDocument } from '../src/application/observations/parse-snapshot';
import {
  computeDrift,
  countsOf,
  coverageOf,
  decideObservation,
  foldObservations,
  foldTopology,
  type Fqdn,
  type SipUri,
  type TopologyEvent,
} from '../src/domain';

const ENDPOINTS = Number(process.env['BENCH_ENDPOINTS'] ?? 50_000);
const POOLS = 20;
const RUNS = 5;

const poolFqdn = (p: number): string => `pcpool${p}.contoso.com`;
const endpointAddress = (i: number): string => `sip:chat${i}@contoso.com`;

function ledgerEvents(): TopologyEvent[] {
  const events: TopologyEvent[] = [{ type: 'SipDomainRegistered', data: { domain: 'contoso.com' as Fqdn, isDefault: true, previousDefault: null } }];
  for (let p = 0; p < POOLS; p++) {
    const servers = [1, 2].map((s) => `pc${p}-${s}.contoso.com` as Fqdn);
    events.push({
      type: 'PersistentChatPoolInstalled',
      data: { fqdn: poolFqdn(p) as Fqdn, servers, activeServers: servers, site: null, complianceEnabled: false, singleServer: false, databaseInstance: null, defaultContactSipAddress: `sip:pc-default-${p}@contoso.com` as SipUri },
    });
  }
  // 1% of the ledger's endpoints are gone from the deployment, 1% sit on another pool there.
  for (let i = 0; i < ENDPOINTS; i++) {
    const sipAddress = endpointAddress(i) as SipUri;
    events.push({ type: 'PersistentChatEndpointCreated', data: { sipAddress, poolFqdn: poolFqdn(i % POOLS) as Fqdn, displayName: `Room ${i}`, distinguishedName: `CN=chat${i}` } });
  }
  return events;
}

function snapshotDocument(): Buffer {
  const endpoints = [];
  for (let i = 0; i < ENDPOINTS; i++) {
    if (i % 100 === 7) continue;
    const pool = i % 100 === 13 ? (i + 1) % POOLS : i % POOLS;
    endpoints.push({ sipAddress: endpointAddress(i), poolFqdn: poolFqdn(pool), displayName: `Room ${i}` });
  }
  // 1% made in the Management Shell only.
  for (let i = 0; i < ENDPOINTS / 100; i++) endpoints.push({ sipAddress: `sip:outside${i}@contoso.com`, poolFqdn: poolFqdn(i % POOLS), displayName: null });
  const persistentChatPools = Array.from({ length: POOLS }, (_, p) => {
    const servers = [1, 2].map((s) => `pc${p}-${s}.contoso.com`);
    return { fqdn: poolFqdn(p), servers, activeServers: servers, poolState: 'Normal', status: 'Installed' };
  });
  return Buffer.from(
    JSON.stringify({ format: 'topology-ledger.snapshot', schemaVersion: 1, collectedAt: '2026-12-07T10:00:00Z', sipDomains: [{ name: 'contoso.com', isDefault: true }], persistentChatPools, endpoints }),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function main(): void {
  const state = foldTopology(ledgerEvents());
  const document = snapshotDocument();
  const parseTimes: number[] = [];
  const jsonTimes: number[] = [];
  const reconcileTimes: number[] = [];
  let driftCount = 0;
  let eventCount = 0;
  for (let run = 0; run < RUNS; run++) {
    let t = performance.now();
    JSON.parse(document.toString('utf8'));
    jsonTimes.push(performance.now() - t);

    t = performance.now();
    const snapshot = parseDocument(document, 'json');
    parseTimes.push(performance.now() - t);

    t = performance.now();
    const drift = computeDrift(state, snapshot);
    const events = decideObservation(
      { observationId: 'bench', sha256: `run-${run}`, source: snapshot.source, collectedAt: snapshot.collectedAt, counts: countsOf(snapshot), coverage: coverageOf(snapshot), drift, ledgerRevision: 0 },
      foldObservations([]),
    );
    reconcileTimes.push(performance.now() - t);
    driftCount = drift.length;
    eventCount = events.length;
  }
  const parse = median(parseTimes);
  const reconcile = median(reconcileTimes);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const ratio = reconcile / parse;
  console.log(`bench:observe  ${ENDPOINTS} endpoints, ${POOLS} pools, document ${(document.length / 1e6).toFixed(1)} MB, median of ${RUNS} runs`);
  console.log(`  JSON.parse alone          ${median(jsonTimes).toFixed(1)} ms`);
  console.log(`  parse (JSON + schema + addresses)   ${parse.toFixed(1)} ms   (baseline)`);
  console.log(`  reconcile (drift + events)          ${reconcile.toFixed(1)} ms   ${driftCount} drift items, ${eventCount} events`);
  console.log(`  reconcile / parse         ${ratio.toFixed(2)}x   (target <= 3x)  ${ratio <= 3 ? 'OK' : 'OVER'}`);
  console.log(`  peak RSS                  ${peakRssMb.toFixed(0)} MB   (target <= 256 MB)  ${peakRssMb <= 256 ? 'OK' : 'OVER'}`);
  if (ratio > 3 || peakRssMb > 256) process.exitCode = 1;
}

main();
