/**
 * Jest runs TypeScript as ESM (middy is ESM-only), in two projects:
 * - `unit` (test/unit): the core on in-memory fakes, no DynamoDB Local, no sockets; seconds.
 *   `npm run test:unit` runs it alone.
 * - `integration` (everything else under test/: integration, property, simulator, infra): real
 *   sockets, DynamoDB Local (started once by the global setup, only when a test of this project runs).
 * `npm test` runs both, every test file once. test/sip (real SIP: Kamailio and SIPp) is left out:
 * `npm run test:sip` runs it with test/sip/jest.config.js.
 */
const typescript = {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
  },
};

export default {
  testTimeout: 30000,
  projects: [
    {
      ...typescript,
      displayName: 'unit',
      roots: ['<rootDir>/test/unit'],
    },
    {
      ...typescript,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      // test/sip needs Kamailio and SIPp: `npm run test:sip` runs it (its own config).
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/', '<rootDir>/test/sip/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
