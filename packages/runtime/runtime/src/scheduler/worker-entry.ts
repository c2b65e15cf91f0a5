// Entry of a worker thread: the dispatcher (started by superviseDispatcher()) or a thread that
// runs handlers (started by the dispatcher's WorkerExecutors). The same bootstrap as the main
// thread; workerData says which role.

import { workerData } from 'node:worker_threads'
import { bootstrap } from '../bootstrap.ts'
import type { WorkerData } from './workers.ts'

const code = await bootstrap(process.env, (workerData as WorkerData).handlerArg)
process.exit(code)
