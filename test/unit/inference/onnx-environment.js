/**
 * Jest environment for tests that run onnxruntime-node: its native binding returns typed arrays made in
 * Node's own realm, and onnxruntime-common (loaded inside the test sandbox) checks them with `instanceof`
 * against the sandbox's constructors, which fails ("A float32 tensor's data must be type of ...").
 * Sharing the typed-array constructors with the sandbox fixes that. Use with
 * `@jest-environment ./test/unit/inference/onnx-environment.js` in the test file's docblock.
 */
const { TestEnvironment } = require('jest-environment-node');

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of ['ArrayBuffer', 'Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array']) {
      this.global[name] = globalThis[name];
    }
  }
}

module.exports = OnnxEnvironment;
