export * from './commands';
export * from './events';
export * from './state';
export { evolve, foldTopology, TopologyFold } from './evolve';
export { decide, defaultPoolContactAddress, endpointDistinguishedName, topologyLimits, type Decision, type DomainWarning } from './decide';
