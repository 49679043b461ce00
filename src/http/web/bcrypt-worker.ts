import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * bcrypt off the main thread (issue #12). bcryptjs is plain JavaScript: a cost-10 check is ~80 ms
 * of CPU, and on the event loop every other connection (the scraper, /-/healthy, the TLS
 * handshakes) waits for it. Here the checks run in one worker thread, started on the first check,
 * holding the process open only while a check is in flight, and stopped again after a minute
 * without work.
 *
 * The worker's source is an inline string run with `eval: true`, so the same code works from the
 * TypeScript sources (vitest) and from dist/ (production): there is no worker file to locate.
 * It loads bcryptjs by the absolute path resolved here.
 */

const SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
if (workerData.nice) {
  // On Linux, setpriority(2) on "this process" (pid 0) changes the calling thread only: this
  // worker yields the CPU to the main thread (scrapes, handshakes) when both want it.
  try { require('node:os').setPriority(workerData.nice); } catch {}
}
parentPort.on('message', (job) => {
  let reply;
  try {
    reply = { id: job.id, ok: bcrypt.compareSync(job.password, job.hash) };
  } catch (err) {
    reply = { id: job.id, error: String((err && err.message) || err) };
  }
  parentPort.postMessage(reply);
});
`;

export interface BcryptWorkerOptions {
  /** A check not answered within this fails, and the (stuck) worker is replaced. Default 10 s. */
  readonly deadlineMs?: number;
  /** The worker stops after this long without a check; the next check starts a new one. Default 60 s. */
  readonly idleMs?: number;
}

interface Job {
  readonly resolve: (ok: boolean) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Thread {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}

type Reply = { id: number; ok: boolean } | { id: number; error: string };

let bcryptjsPath: string | undefined;

/** The worker thread's nice value (Linux only): bcrypt gives way to the event loop. */
const WORKER_NICE = 10;

export class BcryptWorker {
  readonly #deadlineMs: number;
  readonly #idleMs: number;
  #thread: Thread | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #started = 0;

  constructor(options: BcryptWorkerOptions = {}) {
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#idleMs = options.idleMs ?? 60_000;
  }

  /** How many worker threads were started so far (1 unless one died, stuck or idled out). */
  get started(): number {
    return this.#started;
  }

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.#thread !== undefined;
  }

  /** bcrypt.compareSync(password, hash) in the worker. Rejects if the worker dies or misses the deadline. */
  compare(password: string, hash: string): Promise<boolean> {
    const thread = this.#ensure();
    const id = this.#nextId++;
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        thread.jobs.delete(id);
        reject(new Error(`bcrypt check not answered within ${this.#deadlineMs} ms; restarting the bcrypt worker`));
        this.#discard(thread, new Error('bcrypt worker restarted after a check missed its deadline'));
      }, this.#deadlineMs);
      timer.unref();
      thread.jobs.set(id, { resolve, reject, timer });
      // Held while a check is in flight (its caller waits for it), let go when idle.
      thread.worker.ref();
      thread.worker.postMessage({ id, password, hash });
    });
  }

  /** Stops the worker; checks in flight fail. */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const thread = this.#thread;
    if (thread) this.#discard(thread, new Error('bcrypt worker closed'));
    await thread?.worker.terminate().catch(() => undefined);
  }

  #ensure(): Thread {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#thread) return this.#thread;
    bcryptjsPath ??= createRequire(import.meta.url).resolve('bcryptjs');
    // Elsewhere (macOS, Windows) a priority set in the worker would apply to the whole process.
    const nice = process.platform === 'linux' ? WORKER_NICE : 0;
    const worker = new Worker(SOURCE, { eval: true, workerData: { bcryptjs: bcryptjsPath, nice } });
    const thread: Thread = { worker, jobs: new Map() };
    this.#thread = thread;
    this.#started++;
    worker.on('message', (reply: Reply) => {
      const job = thread.jobs.get(reply.id);
      if (!job) return;
      thread.jobs.delete(reply.id);
      clearTimeout(job.timer);
      if ('error' in reply) job.reject(new Error(`bcrypt: ${reply.error}`));
      else job.resolve(reply.ok === true);
      if (thread.jobs.size > 0) return;
      thread.worker.unref();
      if (this.#thread === thread) this.#scheduleIdle(thread);
    });
    worker.on('error', (err) => this.#discard(thread, new Error(`bcrypt worker failed: ${err.message}`)));
    worker.on('exit', (code) => this.#discard(thread, new Error(`bcrypt worker exited (code ${code})`)));
    // After the listeners (adding a 'message' listener refs the worker); compare() refs it per check.
    worker.unref();
    return thread;
  }

  #scheduleIdle(thread: Thread): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#thread === thread && thread.jobs.size === 0) this.#discard(thread, new Error('bcrypt worker idle'));
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  /** Forgets `thread` (the next check starts a new one), fails its checks and stops it. */
  #discard(thread: Thread, reason: Error): void {
    if (this.#thread === thread) this.#thread = undefined;
    for (const job of thread.jobs.values()) {
      clearTimeout(job.timer);
      job.reject(reason);
    }
    thread.jobs.clear();
    void thread.worker.terminate().catch(() => undefined);
  }
}
