export * from './snapshot';
export * from './drift';
export * from './observation';
export * from './adoption';
export * from './runbook';
