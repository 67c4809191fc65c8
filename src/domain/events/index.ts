export * from './records';
export * from './versions';
export * from './upcasters';
export * from './read-boundary';
