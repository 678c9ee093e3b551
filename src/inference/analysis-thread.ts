/**
 * The entry of one analysis worker thread (see study-analyser.ts): loads the model once, then analyses
 * each series it is sent and replies with the analysis and the key image. Nothing here logs: the thread
 * has no logger, and errors go back to the study worker, which records them.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { startModel } from './session';
import { analyseInProcess, type StudyAnalyser, type ThreadOptions, type ThreadReply, type ThreadRequest, toThreadError } from './study-analyser';

const port: MessagePort = parentPort ?? notAThread();
const options = workerData as ThreadOptions;

function reply(m: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

async function main(): Promise<void> {
  let analyse: StudyAnalyser;
  try {
    const model = await startModel(options.modelPath, { threads: options.ortThreads });
    analyse = analyseInProcess(model);
    reply({ kind: 'ready', card: model.card });
  } catch (err) {
    reply({ kind: 'start-failed', error: toThreadError(err) });
    return;
  }
  // One series at a time: the pool never sends a thread a second series before the first is answered.
  port.on('message', (req: ThreadRequest) => {
    const buffers = req.parts.map(([offset, length]) => Buffer.from(req.bytes, offset, length));
    analyse(buffers).then(
      ({ analysis, keyImage }) => {
        const image = keyImage ? new Uint8Array(keyImage) : null;
        reply({ kind: 'done', id: req.id, analysis, keyImage: image }, image ? [image.buffer as ArrayBuffer] : []);
      },
      (err: unknown) => reply({ kind: 'failed', id: req.id, error: toThreadError(err) }),
    );
  });
}

function notAThread(): never {
  throw new Error('analysis-thread runs as a worker thread only');
}

void main();
