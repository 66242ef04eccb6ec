import { parentPort, workerData } from 'node:worker_threads';
import { runDeliveryThread } from '../src/deliver/threads/delivery-thread.js';
import type { DeliveryThreadSetup } from '../src/deliver/threads/delivery-thread-messages.js';

runDeliveryThread(workerData as DeliveryThreadSetup, parentPort!);
