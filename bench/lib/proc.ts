import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { childScript } from './paths.js';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ). */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU time (user + system, ms) a process has used so far, as the kernel counts it: the same
 * measure for our Node child and for blackbox_exporter, GC and helper threads included.
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the samples. */
export function sampleRss(pid: number, everyMs = 250): { stop(): number[] } {
  const samples: number[] = [];
  const take = (): void => {
    try {
      samples.push(rssBytes(pid));
    } catch {
      // The process is gone; the caller notices elsewhere.
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Pins every thread of a process to one CPU, so "one core" means one core. */
export function pinToCpu(pid: number, cpu: number): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
  } catch {
    // No taskset, or a single-CPU machine: the figures then say so through nproc.
  }
}

/** A loopback port that is free right now (bound, then released) for a child to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (msToWait: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, msToWait));

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Children: each bench child (bench/children/*.ts) answers requests over the IPC channel.

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

export interface BenchChild {
  readonly pid: number;
  readonly process: ChildProcess;
  request<T>(kind: string, args?: Record<string, unknown>): Promise<T>;
  /** Ends the child (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Forks a compiled bench child with an IPC channel; `cpu` pins it to one CPU. */
export function startChild(name: string, options: { cpu?: number; execArgv?: string[] } = {}): BenchChild {
  const child = fork(childScript(name), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: options.execArgv ?? [] });
  if (child.pid === undefined) throw new Error(`could not start bench child ${name}`);
  if (options.cpu !== undefined) pinToCpu(child.pid, options.cpu);
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: Reply) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(`${name}: ${message.error ?? 'failed'}`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error(`bench child ${name} exited`));
    pending.clear();
  });
  return {
    pid: child.pid,
    process: child,
    request<T>(kind: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, kind, ...args });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

type Handler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

/** The child side: answers each request with its handler's value or error. */
export function serveRequests(handlers: Record<string, Handler>): void {
  process.on('message', (message: { id: number; kind: string } & Record<string, unknown>) => {
    const handler = handlers[message.kind];
    const reply = (r: Reply): void => void process.send?.(r);
    if (!handler) {
      reply({ id: message.id, ok: false, error: `unknown request ${message.kind}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message))
      .then(
        (value) => reply({ id: message.id, ok: true, value }),
        (err: unknown) => reply({ id: message.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
      );
  });
  // The parent going away (Ctrl-C, a crash) must not leave this child running.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
