/** Report understanding: which vertebral fractures a radiology report mentions (EN, FR). */
export { analyzeReport, assertSpan, type SpanAssertion } from './analyze';
export * from './types';
