export * from './errors';
export * from './shared/fqdn';
export * from './shared/distinguished-name';
export * from './shared/sip-uri';
export * from './shared/printable';
export * from './topology';
export * from './migration';
export * from './observation';
