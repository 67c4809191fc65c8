export * from './errors';
export * from './shared/fqdn';
export * from './shared/sip-uri';
export * from './topology';
export * from './migration';
export * from './observation';
