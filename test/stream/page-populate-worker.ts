/**
 * Worker side of the page-populate test: creates a part arena on this thread
 * (as an ingest worker does), fills it front to back, and posts the minor
 * page faults the filling took.
 */
import { parentPort } from 'node:worker_threads';
import { PartArena } from '../../src/stream/part-arena.js';

const arena = PartArena.create(8 * 2 ** 20);
const before = process.resourceUsage().minorPageFault;
for (let region = arena.allocate(150_000); region !== null; region = arena.allocate(150_000)) region.fill(1);
parentPort!.postMessage([process.resourceUsage().minorPageFault - before]);
