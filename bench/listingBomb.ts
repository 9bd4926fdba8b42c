// Benchmark: peak memory of `ferry ls` against listing bombs (FAULTS B8, issue 12 failure 11),
// from the scripted fake server on loopback: a 10^6-entry LIST at the default cap, the same
// with the cap raised (sorted output holds the entries; --unsorted streams them), and an
// endless LIST. Peak RSS is the child's own process.resourceUsage().maxRSS, printed on exit.
//
//   node --import tsx bench/listingBomb.ts                   # ENTRIES=1000000
//   FERRY_ROOT=/tmp/ferry-before node --import tsx bench/listingBomb.ts   # another checkout
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../test/helpers/cli.js";
import { startFakeFtpServer, type FakeSession } from "../test/helpers/fakeFtpServer.js";

const ENTRIES = Number(process.env.ENTRIES ?? 1_000_000);
const ROOT = process.env.FERRY_ROOT ?? REPO_ROOT;
const REPORTER = join(tmpdir(), "ferry-bench-maxrss.mjs");
writeFileSync(REPORTER, 'process.on("exit", () => process.stderr.write(`\\nMAXRSS_KB=${process.resourceUsage().maxRSS}\\n`));\n');

async function stream(s: FakeSession, count: number): Promise<void> {
  s.reply(150, "Here comes the directory listing.");
  const d = await s.data();
  let closed = false;
  d.on("close", () => (closed = true));
  d.on("error", () => (closed = true));
  let i = 0;
  while (!closed && i < count) {
    let chunk = "";
    for (let k = 0; k < 1000 && i < count; k++) chunk += `-rw-r--r--    1 ftp      ftp          1234 Jan 01  2024 file-${i++}.txt\r\n`;
    if (!d.write(chunk)) await drainOrClose(d);
  }
  if (closed) return s.reply(426, "Transfer aborted.");
  d.end();
  await once(d, "close");
  s.reply(226, "Directory send OK.");
}

const server = await startFakeFtpServer({
  handlers: { LIST: (arg, s) => stream(s, arg.includes("endless") ? Number.POSITIVE_INFINITY : ENTRIES) },
});

async function ls(label: string, args: string[], path = "/"): Promise<void> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "--import", REPORTER, join(ROOT, "src", "cli", "main.ts"), "ls", ...args,
    `ftp://u:p@127.0.0.1:${server.port}${path}`], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let lines = 0;
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => { for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++; });
  child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const [code] = (await once(child, "close")) as [number | null];
  const kb = Number(/MAXRSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN);
  const err = stderr.replace(/\n?MAXRSS_KB=\d+\n/, "").trim().split("\n").pop()?.slice(0, 110) ?? "";
  console.log(`${label.padEnd(44)} exit ${code}  peak RSS ${(kb / 1024).toFixed(0).padStart(5)} MiB  ` +
    `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s  ${lines} lines${err ? `  (${err})` : ""}`);
}

console.log(`ferry ls at ${ROOT}, ${ENTRIES} entries`);
await ls(`${ENTRIES} entries, default cap`, []);
await ls(`${ENTRIES} entries, cap raised, sorted`, ["--max-dir-entries", String(ENTRIES * 2)]);
await ls(`${ENTRIES} entries, cap raised, --unsorted`, ["--unsorted", "--max-dir-entries", String(ENTRIES * 2)]);
await ls("endless LIST, default cap", [], "/endless");
await server.close();

/** Wait until `d` drains or closes, leaving no listener behind. */
function drainOrClose(d: import("node:net").Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      d.off("drain", done);
      d.off("close", done);
      resolve();
    };
    d.on("drain", done);
    d.on("close", done);
  });
}
