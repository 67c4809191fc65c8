export * from './records';
export * from './versions';
export * from './upcasters';
export * from './streams';
export * from './read-boundary';
