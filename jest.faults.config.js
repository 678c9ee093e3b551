/**
 * The fault tests (`npm run test:faults`): the service as child processes, SIGKILLed and SIGTERMed, with
 * Redis, Orthanc and a FHIR server failing under it. Files are named *.fault.ts, so the default
 * configuration (`npm test`, *.test.ts) never runs them; they need `npm run build` first.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.fault.ts'],
  // Each case bounds its own waits; this only keeps a hung case from hanging the run.
  testTimeout: 240000,
};
