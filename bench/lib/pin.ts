import { availableParallelism } from "node:os";

/**
 * Whether the benches pin the server to CPU 0 and clients to CPU 1 (taskset): with two or
 * more CPUs unless PIN=0. Unpinned runs on a 2-core machine swung 2x as the scheduler put
 * both ends on one core in some runs only.
 */
export const PIN = process.env.PIN !== "0" && availableParallelism() >= 2;

/** `command args` on one CPU when pinning (taskset), else as is. */
export function onCpu(cpu: number, command: string, args: string[]): [string, string[]] {
  return PIN ? ["taskset", ["-c", String(cpu), command, ...args]] : [command, args];
}
