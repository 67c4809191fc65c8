/**
 * `npm run test:reliability`: real processes and real SQLite files under crashes, disk faults,
 * races, bad input and corruption. Bounded in time (a few minutes on 2 cores); `npm test` runs it too.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/reliability'],
  testMatch: ['**/*.reliability.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 300000,
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/support/global-setup.js',
};
