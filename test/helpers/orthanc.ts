/** The local Orthanc launcher lives in src/dev (the demo and benchmarks use it too). */
export * from '../../src/dev/orthanc';
