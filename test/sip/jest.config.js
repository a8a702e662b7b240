/**
 * `npm run test:sip`: the SIP suite alone (Kamailio, SIPp, callwake's local stack), one file at a
 * time. `npm test` leaves test/sip out (see the root jest.config.js).
 */
export default {
  rootDir: '../..',
  roots: ['<rootDir>/test/sip'],
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
  },
  maxWorkers: 1,
  testTimeout: 30000,
};
