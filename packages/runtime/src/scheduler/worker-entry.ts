// Entry of one worker thread started by runWorkers(): the same bootstrap as the main thread,
// serving its share of the slots.
import { bootstrap } from '../bootstrap.ts'
import type { WorkerData } from './workers.ts'
import { workerData } from 'node:worker_threads'

const code = await bootstrap(process.env, (workerData as WorkerData).handlerArg)
process.exit(code)
