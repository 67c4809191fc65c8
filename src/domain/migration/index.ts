export * from './plan';
export * from './process';
export * from './runbook';
export * from './decide';
