import { setFlagsFromString } from "node:v8";

/**
 * The V8 flags that size the young generation. One given by the user (on node's command line
 * or in NODE_OPTIONS) wins: this module then changes nothing.
 */
const YOUNG_GENERATION_FLAGS = ["--max-semi-space-size", "--semi-space-growth-factor", "--min-semi-space-size"];

/**
 * Whether this process should keep V8's young generation at its starting size: only for
 * `ferry daemon` (the first word of the command line that is not a flag), and only when the
 * user set none of the young-generation flags themselves.
 */
export function shouldCapYoungGeneration(argv: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (argv.slice(2).find((a) => !a.startsWith("-")) !== "daemon") return false;
  // V8 takes `_` and `-` alike in flag names.
  const given = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].map((flag) => `--${flag.replace(/^--/, "").split("=")[0]!.replace(/_/g, "-")}`);
  return !given.some((flag) => YOUNG_GENERATION_FLAGS.includes(flag));
}

/**
 * Keep V8's young generation (its two semi-spaces) at the starting size for the rest of the
 * process. V8 doubles the semi-spaces while many objects survive, which is what loading a
 * program's modules looks like, up to 16 MiB each on 64-bit, and never hands them back, so an
 * idle daemon kept both resident for life (bench/README.md, "the HTTP surface"). The size
 * limit (--max-semi-space-size) is read only when the heap is set up; the growth factor is
 * read at each growth, so setting it to 1 before any module of ferry loads keeps the size
 * where V8 started. A V8 that no longer knows the flag ignores it (and the daemon then runs
 * with V8's defaults); test/cli/idleHeap.test.ts fails on such a node.
 */
export function capYoungGeneration(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}

// Imported first by the CLI's entry point: this runs before any other module of ferry loads.
if (shouldCapYoungGeneration(process.argv, process.execArgv, process.env.NODE_OPTIONS)) capYoungGeneration();
