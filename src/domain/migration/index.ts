export * from './plan';
export * from './process';
export * from './runbook';
