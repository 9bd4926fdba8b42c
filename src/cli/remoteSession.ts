import { ClientPool, FtpClient, FtpReplyError, isConnectionLimit, isConnectionLost, isLoginRefused } from "../client/index.js";
import type { Logger } from "../log/index.js";
import type { RemoteTarget } from "./credentials.js";
import { CliError, ExitCode } from "./exitCodes.js";
import { connectionHint } from "./hints.js";

/** An open remote: a pool whose first connection has already logged in. */
export interface RemoteSession {
  pool: ClientPool;
  /**
   * Log in up to `n` connections in all (the first included) ahead of need, side by side;
   * the pool takes them before opening its own. Never throws: a failed early login only
   * means the pool connects when it needs to.
   */
  warm(n: number): void;
  /** Close every connection, used or not. */
  close(): Promise<void>;
}

/** Why a connection or login failed, with a hint a person can act on. */
function connectMessage(target: RemoteTarget, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (isConnectionLimit(err)) return `cannot connect to ${target.display}: ${msg} (the server is full: it takes no more connections now; try again later)`;
  if (err instanceof FtpReplyError && err.code === 530) {
    const hint = target.passwordSource === "none"
      ? "no password was given: put it in the URL, in FERRY_PASSWORD or in ~/.netrc"
      : `check the user and the password (from ${target.passwordSource})`;
    return `login to ${target.display} refused (${msg}): ${hint}`;
  }
  const hint = connectionHint(err, target.url);
  return `cannot connect to ${target.display}: ${msg}${hint ? `; ${hint}` : ""}`;
}

/**
 * Connect and log in once up front, so a bad host or password ends the command with exit 3
 * before any work starts; that first connection then becomes the pool's first client, and
 * connections opened by `warm` the next ones.
 */
export async function openRemote(target: RemoteTarget, options: { max: number; logger?: Logger }): Promise<RemoteSession> {
  const connect = () => FtpClient.connect({ ...target.connect, ...(options.logger ? { logger: options.logger } : {}) });
  let first: FtpClient;
  try {
    first = await connect();
  } catch (err) {
    throw new CliError(connectMessage(target, err), ExitCode.Connection, { cause: err });
  }
  // Logged-in (or logging-in) clients the pool has not taken yet; undefined when one failed,
  // the error when the server refused it as too many (the pool lowers its cap on it).
  const spares: Promise<FtpClient | Error | undefined>[] = [Promise.resolve(first)];
  const pool = new ClientPool({
    max: options.max,
    remote: target.display,
    connect: async () => {
      // A logged-in spare first (it holds a server slot); else the server's refusal, if any.
      let refusal: Error | undefined;
      for (let spare = spares.shift(); spare; spare = spares.shift()) {
        const c = await spare;
        if (c instanceof Error) refusal ??= c;
        else if (c && !c.closed) return c;
      }
      if (refusal) throw refusal;
      return connect();
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    pool,
    warm(n) {
      const missing = Math.min(n, options.max) - pool.size - spares.length;
      for (let i = 0; i < missing; i++) {
        spares.push(connect().catch((err: unknown) => {
          options.logger?.debug({ err: (err as Error).message }, "early login failed; the pool connects when needed");
          return isConnectionLimit(err) && err instanceof Error ? err : undefined;
        }));
      }
    },
    close: async () => {
      await pool.drain();
      await Promise.all(spares.splice(0).map(async (spare) => {
        const c = await spare;
        if (c instanceof FtpClient) await c.quit();
      }));
    },
  };
}

/** Whether an error means the server could not be reached or kept (exit 3) rather than a failed file. */
export function isConnectionFailure(err: unknown): boolean {
  // A busy server's 530 ("too many connections") counts as connection trouble, like a refused login.
  return isConnectionLost(err) || isLoginRefused(err) || isConnectionLimit(err);
}

/** An error thrown out of a command as the right CliError (3 for connection trouble, else 1). */
export function toCliError(what: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new CliError(`${what}: ${msg}`, isConnectionFailure(err) ? ExitCode.Connection : ExitCode.Failed, { cause: err });
}
