// Two suites: "unit" (pure logic, mocks, policies; no engine) and "engine" (real Pulumi engine and a
// local API server, see tests/engine). `npm test` runs both; each can be run alone with --selectProjects.
const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };
module.exports = {
  testTimeout: 30000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: tsJest,
      testMatch: ['<rootDir>/tests/unit/**/*.test.ts', '<rootDir>/tests/policies/**/*.test.ts'],
    },
    {
      displayName: 'engine',
      testEnvironment: 'node',
      transform: tsJest,
      testMatch: ['<rootDir>/tests/engine/**/*.test.ts'],
      maxWorkers: 1,
    },
  ],
};
