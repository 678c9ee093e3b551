/** @type {import('jest').Config} */
module.exports = {
  // Node's environment with typed-array constructors shared with the sandbox, so onnxruntime-node runs in
  // any test (unit tests of the model and the integration tests whose workers detect vertebrae).
  testEnvironment: '<rootDir>/test/unit/inference/onnx-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/helpers/fast-check-seed.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
};
