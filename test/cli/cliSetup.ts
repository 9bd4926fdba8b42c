import type { TestContext } from "node:test";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

/** A ferry server, a temp folder and a `ferry` runner with a clean environment (no netrc, no password, level unset). */
export async function cliSetup(t: TestContext) {
  const server = await startFerryServer();
  const tmp = await tempDir();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env: NodeJS.ProcessEnv = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: tmp.path, FERRY_PASSWORD: "", NETRC: "", FERRY_LOG_LEVEL: undefined };
  const ferry = (args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}) =>
    runFerry(args, { env: { ...env, ...options.env }, timeoutMs: 60_000, ...(options.input !== undefined ? { input: options.input } : {}) });
  return { server, tmp, env, ferry, base: `ftp://user:pass@127.0.0.1:${server.port}` };
}

export type { RunningFerryServer };
