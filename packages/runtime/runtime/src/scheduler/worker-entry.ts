// Entry of one worker thread started by runWorkers(): the same bootstrap as the main thread,
// serving its share of the slots.

import { workerData } from 'node:worker_threads'
import { bootstrap } from '../bootstrap.ts'
import type { WorkerData } from './workers.ts'

const code = await bootstrap(process.env, (workerData as WorkerData).handlerArg)
process.exit(code)
