/**
 * `npm run bench:decide`: a deployment's decision and fold per command as the deployment grows, beside
 * what copying its two largest collections (its endpoints and their index by distinguished name) costs
 * in the same run: the price every group of commands paid while the state was held in plain `Map`s.
 * Results: bench/README.md.
 */
import { performance } from 'node:perf_hooks';
import { decide, foldTopology, TopologyFold, type TopologyCommand, type TopologyState } from '../src/domain';
import { argValue } from './report';

const args = process.argv.slice(2);
const SIZES = (argValue(args, '--sizes') ?? '1000,10000,50000').split(',').map(Number);

const createEndpoint = (n: number): TopologyCommand =>
  ({
    type: 'CreateEndpoint',
    sipAddress: `sip:room-${n}@contoso.com`,
    poolFqdn: 'pcpool.contoso.com',
    displayName: `Room ${n}`,
    objectGuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  }) as unknown as TopologyCommand;

let state: TopologyState = foldTopology([]);
let next = 0;

/** Decides `commands` as one group (each on the state the ones before leave) and keeps the result. */
function group(commands: readonly TopologyCommand[]): void {
  const fold = new TopologyFold(state);
  for (const command of commands) {
    const decision = decide(command, fold.state);
    if (decision.events.length === 0) throw new Error(`${command.type} decided nothing`);
    fold.apply(decision.events);
  }
  state = fold.result();
}

function microsPerCommand(groupSize: number, commands: number): number {
  const groups = Math.max(1, Math.round(commands / groupSize));
  const started = performance.now();
  for (let g = 0; g < groups; g++) group(Array.from({ length: groupSize }, () => createEndpoint(next++)));
  return ((performance.now() - started) * 1000) / (groups * groupSize);
}

function microsPerCopy(): number {
  const rounds = 20;
  const endpoints = new Map(state.endpoints);
  const names = new Map(state.endpointDistinguishedNames);
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    new Map(endpoints);
    new Map(names);
  }
  return ((performance.now() - started) * 1000) / rounds;
}

group([
  { type: 'RegisterSipDomain', domain: 'contoso.com', isDefault: true } as unknown as TopologyCommand,
  { type: 'InstallPersistentChatPool', fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com'] } as unknown as TopologyCommand,
]);
const lines = [
  '### A deployment\'s decision and fold per CreateEndpoint, as it grows',
  '',
  '| endpoints | groups of 1 | groups of 32 | copying its two largest maps once (baseline) | groups of 1 ÷ baseline |',
  '|---:|---:|---:|---:|---:|',
];
for (const size of SIZES) {
  group(Array.from({ length: Math.max(0, size - state.endpoints.size) }, () => createEndpoint(next++)));
  microsPerCommand(1, 200); // warm-up at this size
  const single = microsPerCommand(1, 2000);
  const grouped = microsPerCommand(32, 2000);
  const copy = microsPerCopy();
  lines.push(`| ${size.toLocaleString('en')} | ${single.toFixed(0)} µs | ${grouped.toFixed(0)} µs | ${copy.toFixed(0)} µs | ${(single / copy).toFixed(3)}× |`);
}
console.log(lines.join('\n'));
console.log('\nA group of one command (one client, or commands that do not queue) paid at least the baseline before the state shared its collections between versions; it should now stay far below it and not grow with the deployment.');
