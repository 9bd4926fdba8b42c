import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { ClientPool, FtpClient, isConnectionLimit, isConnectionLost, isLoginRefused, parseFtpUrl, redactUrl, type ConnectOptions } from "../client/index.js";
import type { RemoteConfig } from "../config/index.js";
import type { ConnectionSlots } from "../fleet/index.js";
import type { Logger } from "../log/index.js";
import { backoffDelay, RetryLaterError, type BackoffPolicy } from "../queue/index.js";
import type { SyncClient, SyncPool } from "../sync/index.js";

/** A remote as the daemon uses it: connect options, the folder of its URL, and its cap. */
export interface RemoteEndpoint {
  readonly name: string;
  /** The URL without its password, for logs. */
  readonly display: string;
  readonly connect: ConnectOptions;
  /** The URL's folder: the base of relative job paths ("." for the login folder). */
  readonly basePath: string;
  /** Most connections at once. */
  readonly connections: number;
}

/** TLS connect options of a remote: ftpes:// explicit, ftps:// implicit; verified unless `insecure`, against `ca` when given. */
function remoteTls(name: string, secure: "none" | "explicit" | "implicit", cfg: RemoteConfig): Pick<ConnectOptions, "secure" | "tls"> {
  if (secure === "none") return {};
  if (cfg.insecure) return { secure, tls: { rejectUnauthorized: false } };
  if (cfg.ca === undefined) return { secure };
  try {
    return { secure, tls: { ca: readFileSync(cfg.ca) } };
  } catch (err) {
    throw new Error(`remotes.${name}.ca: cannot read ${cfg.ca}: ${(err as Error).message}`, { cause: err });
  }
}

/** Build an endpoint from the config; the password field wins over one in the URL. */
export function remoteEndpoint(name: string, cfg: RemoteConfig): RemoteEndpoint {
  const url = parseFtpUrl(cfg.url);
  const password = cfg.password ?? url.password;
  return {
    name,
    display: redactUrl(cfg.url),
    connect: {
      host: url.host, port: url.port, ...(url.user !== undefined ? { user: url.user } : {}), ...(password !== undefined ? { password } : {}),
      ...remoteTls(name, url.secure, cfg),
    },
    basePath: url.path,
    connections: cfg.connections,
  };
}

/**
 * Whether the server refused the login (the client's isLoginRefused: FtpLoginError, or a 530 /
 * 430 not saying "too many connections"): retrying soon with the same credentials cannot help
 * and locks accounts on many servers (C6, I15).
 */
export { isLoginRefused };

/**
 * Whether the server said it is busy (421, e.g. "too many connections" at the greeting, or a
 * 530 saying so): it is up and will take us later, so hammering it only keeps its slots full.
 * Such a failure backs off as if two more had happened (lftp's net:persist-retries idea, FAULTS C6).
 */
export function isServerBusy(err: unknown): boolean {
  return isConnectionLimit(err);
}

/** Doublings a busy server's backoff starts ahead of an unreachable one's. */
const BUSY_HEAD_START = 2;

/** Why a remote counts as down. */
export type RemoteTroubleReason = "unreachable" | "login refused";

/** Health of one remote: consecutive connection failures and until when it counts as down. */
interface Health {
  reason: RemoteTroubleReason;
  failures: number;
  downUntil: number;
  lastError: string;
  since: number;
}

/** A remote that could not be reached, as `ferry status` shows it. */
export interface RemoteTrouble {
  readonly name: string;
  /** "unreachable" (connect or connection failed) or "login refused" (530: wrong user or password). Older health files lack it. */
  readonly reason?: RemoteTroubleReason;
  /** Consecutive connection failures (one per backoff window). */
  readonly failures: number;
  /** When the first of them happened (ms since epoch). */
  readonly since: number;
  /** When jobs for it are tried again (ms since epoch). */
  readonly retryAt: number;
  readonly lastError: string;
}

/** Login retries after a 530: one minute, doubling to half an hour (an account lock-out usually needs several failures in minutes). */
export const DEFAULT_LOGIN_BACKOFF: BackoffPolicy = { baseMs: 60_000, capMs: 1_800_000, jitter: 0.1 };

/** Options of a RemoteRegistry. */
export interface RemoteRegistryOptions {
  /** Delays while a remote stays unreachable (doubling per failure, capped). */
  readonly backoff: BackoffPolicy;
  /** Delays while a remote refuses the login (530): long, so an account is not locked; default 1 min doubling to 30 min. */
  readonly loginBackoff?: BackoffPolicy;
  readonly logger: Logger;
  /** Idle connections are closed after this long, in ms; default 60000. */
  readonly idleMs?: number;
  /** Called when a remote goes down, backs off further, or comes back; with every remote in trouble. */
  readonly onHealthChange?: (troubled: readonly RemoteTrouble[]) => void;
  /**
   * Fleet-wide connection slots (issue 16): each new connection to a remote first takes one of
   * its `connections` slots, shared with the other nodes. Default: none (the pool's own cap).
   */
  readonly slots?: ConnectionSlots;
  /** Default Date.now; Math.random. */
  readonly now?: () => number;
  readonly rng?: () => number;
}

/**
 * One ClientPool per remote (capped at the remote's `connections`), plus a per-remote circuit
 * breaker: when connecting fails or a connection breaks, the remote counts as down for a
 * backoff delay that doubles with each failure, and every job for it is put back with
 * RetryLaterError (no attempt used) instead of hammering a dead server. The first successful
 * use closes the breaker.
 */
export class RemoteRegistry {
  // parameters
  readonly #endpoints: ReadonlyMap<string, RemoteEndpoint>;
  readonly #options: RemoteRegistryOptions;
  readonly #now: () => number;
  readonly #rng: () => number;
  // internal state
  readonly #pools = new Map<string, ClientPool>();
  readonly #health = new Map<string, Health>();
  /** Remote folders known to exist, per remote, so an outbox upload does not MKD each time. */
  readonly #dirs = new Map<string, Set<string>>();
  /**
   * Remotes that accepted a login since start (or since their last refusal). Until then, and
   * after a refusal, connects to a remote go one at a time: a wrong password costs one failed
   * login per backoff window, not one per job or per pooled connection.
   */
  readonly #loggedIn = new Set<string>();
  /** The tail of each remote's one-at-a-time connect queue. */
  readonly #connectGate = new Map<string, Promise<void>>();
  /** Aborted by drain(): a connect hanging on a silent server must not hold the shutdown. */
  readonly #closing = new AbortController();
  /** onWanted subscriptions of the pools, ended by drain(). */
  readonly #unsubscribe: (() => void)[] = [];

  constructor(endpoints: readonly RemoteEndpoint[], options: RemoteRegistryOptions) {
    this.#endpoints = new Map(endpoints.map((e) => [e.name, e]));
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#rng = options.rng ?? Math.random;
    setMaxListeners(0, this.#closing.signal); // one listener per open connection, by design
  }

  /** The endpoint of a remote; throws for a name the config does not define. */
  endpoint(name: string): RemoteEndpoint {
    const e = this.#endpoints.get(name);
    if (!e) throw new Error(`unknown remote "${name}"`);
    return e;
  }

  /** Per-remote job caps for the worker runner: a slow remote cannot take every worker. */
  keyLimits(): Record<string, number> {
    return Object.fromEntries([...this.#endpoints.values()].map((e) => [e.name, e.connections]));
  }

  /** Why a remote counts as down and for how much longer, or undefined when it is usable. */
  downFor(name: string): { ms: number; lastError: string } | undefined {
    const h = this.#health.get(name);
    const ms = h ? h.downUntil - this.#now() : 0;
    return h && ms > 0 ? { ms, lastError: h.lastError } : undefined;
  }

  /**
   * Run fn on a pooled connection to the remote. Throws RetryLaterError while the remote is
   * down, and turns a connection failure into one (after recording it), so a job waiting for
   * a dead server uses no attempts and cannot die of the outage.
   */
  async use<T>(name: string, fn: (client: FtpClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.#assertUp(name);
    signal?.throwIfAborted();
    try {
      const result = await abortable(this.#pool(name).use(fn), signal);
      this.#healthy(name);
      return result;
    } catch (err) {
      if (signal?.aborted) throw err;
      // The gate found the remote down while this use waited for its turn to connect.
      if (err instanceof RetryLaterError) throw err;
      if (isLoginRefused(err)) {
        const delayMs = this.#failed(name, err, "login refused");
        throw new RetryLaterError(`remote ${name}: login refused (${(err as Error).message}); check the user and password in the config; next login try in ${Math.ceil(delayMs / 1000)} s`, { delayMs, cause: err });
      }
      if (!isConnectionLost(err) && !isServerBusy(err)) {
        this.#healthy(name); // the server answered: it is up, this operation failed
        throw err;
      }
      const delayMs = this.#failed(name, err);
      throw new RetryLaterError(`remote ${name} unreachable: ${(err as Error).message}; retrying in ${Math.ceil(delayMs / 1000)} s`, { delayMs, cause: err });
    }
  }

  /** The remote as the sync engine's pool; connection failures surface as RetryLaterError. */
  syncPool(name: string, signal?: AbortSignal): SyncPool {
    return { use: <T>(fn: (client: SyncClient) => Promise<T>) => this.use(name, fn, signal) };
  }

  /** Create the remote folder (and its parents) once per daemon run. */
  async ensureDir(name: string, client: FtpClient, dir: string): Promise<void> {
    if (dir === "" || dir === "." || dir === "/") return;
    let known = this.#dirs.get(name);
    if (!known) this.#dirs.set(name, (known = new Set()));
    if (known.has(dir)) return;
    await client.ensureDir(dir);
    known.add(dir);
  }

  /** Whether ensureDir needs no round trip for this folder: made or found earlier in this run. */
  knowsDir(name: string, dir: string): boolean {
    return dir === "" || dir === "." || dir === "/" || (this.#dirs.get(name)?.has(dir) ?? false);
  }

  /** Connections open now per remote that has a pool (idle, in use or connecting). */
  connections(): Map<string, number> {
    return new Map([...this.#pools].map(([name, pool]) => [name, pool.size]));
  }

  /** Every remote currently in trouble. */
  troubled(): RemoteTrouble[] {
    return [...this.#health].map(([name, h]) => ({ name, reason: h.reason, failures: h.failures, since: h.since, retryAt: h.downUntil, lastError: h.lastError }));
  }

  #notify(): void {
    try {
      this.#options.onHealthChange?.(this.troubled());
    } catch (err) {
      this.#options.logger.error({ err }, "remote health listener failed");
    }
  }

  /** Forget that a folder exists (an upload into it failed; someone may have removed it). */
  forgetDir(name: string, dir: string): void {
    this.#dirs.get(name)?.delete(dir);
  }

  /** Close every connection (at shutdown), aborting connects still in progress. */
  async drain(): Promise<void> {
    this.#closing.abort(new Error("shutting down"));
    for (const off of this.#unsubscribe.splice(0)) off();
    await Promise.all([...this.#pools.values()].map((p) => p.drain()));
    this.#pools.clear();
  }

  #pool(name: string): ClientPool {
    let pool = this.#pools.get(name);
    if (!pool) {
      const e = this.endpoint(name);
      const log = this.#options.logger.child({ remote: name });
      if (e.connect.tls?.rejectUnauthorized === false) {
        log.warn({ event: "tls.insecure" }, `remote ${name}: insecure: true, its TLS certificate is NOT verified; anyone on the path can impersonate it`);
      }
      const slots = this.#options.slots;
      pool = new ClientPool({
        max: e.connections,
        ...(slots ? { admit: (signal: AbortSignal) => slots.acquire(name, e.connections, signal) } : {}),
        idleMs: this.#options.idleMs ?? 60_000,
        logger: log,
        // Bounded timeouts: a silent server must free the worker within a lease period.
        connect: () => this.#gatedConnect(name, () =>
          FtpClient.connect({ connectTimeoutMs: 10_000, commandTimeoutMs: 30_000, dataTimeoutMs: 30_000, ...e.connect, signal: this.#closing.signal })),
      });
      this.#pools.set(name, pool);
      // Another node waits for a slot of this remote: idle connections give theirs back, or the next one released does.
      const idlePool = pool;
      if (slots) this.#unsubscribe.push(slots.onWanted(name, () => void idlePool.yieldSlot()));
    }
    return pool;
  }

  /**
   * Connect, one at a time per remote until a login succeeded: the connects queued behind a
   * refused or failed one see the remote down and give up without touching the server.
   */
  async #gatedConnect(name: string, connect: () => Promise<FtpClient>): Promise<FtpClient> {
    if (this.#loggedIn.has(name)) return connect();
    const before = this.#connectGate.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.#connectGate.set(name, tail);
    await before;
    try {
      this.#assertUp(name);
      const client = await connect();
      this.#loggedIn.add(name);
      return client;
    } finally {
      release();
      if (this.#connectGate.get(name) === tail) this.#connectGate.delete(name);
    }
  }

  #assertUp(name: string): void {
    const down = this.downFor(name);
    if (!down) return;
    const h = this.#health.get(name);
    if (h?.reason === "login refused") {
      throw new RetryLaterError(`remote ${name}: login refused (${down.lastError}); next login try in ${Math.ceil(down.ms / 1000)} s`, { delayMs: down.ms });
    }
    throw new RetryLaterError(`remote ${name} is unreachable (${down.lastError}); next try in ${Math.ceil(down.ms / 1000)} s`, { delayMs: down.ms });
  }

  #healthy(name: string): void {
    const h = this.#health.get(name);
    if (!h) return;
    if (h.failures > 0 && h.reason === "login refused") this.#options.logger.info({ remote: name, failures: h.failures }, "remote accepts the login again");
    else if (h.failures > 0) this.#options.logger.info({ remote: name, failures: h.failures }, "remote reachable again");
    this.#health.delete(name);
    this.#notify();
  }

  /** Records a connection failure; returns how long the remote now counts as down. */
  #failed(name: string, err: unknown, reason: RemoteTroubleReason = "unreachable"): number {
    const now = this.#now();
    const h = this.#health.get(name) ?? { reason, failures: 0, downUntil: 0, lastError: "", since: now };
    if (reason === "login refused") this.#loggedIn.delete(name);
    if (h.reason !== reason) {
      // A new kind of trouble starts its own backoff.
      h.reason = reason;
      h.failures = 0;
      h.downUntil = 0;
    }
    // Jobs failing together on one outage count once: the delay grows per window, not per job.
    if (h.downUntil <= now) {
      const policy = reason === "login refused" ? (this.#options.loginBackoff ?? DEFAULT_LOGIN_BACKOFF) : this.#options.backoff;
      const step = h.failures + (reason === "unreachable" && isServerBusy(err) ? BUSY_HEAD_START : 0);
      h.downUntil = now + backoffDelay(Math.min(step, 30), policy, this.#rng);
      h.failures++;
      if (reason === "login refused") {
        // Loud: only a person can fix credentials; the jobs wait without using attempts.
        this.#options.logger.error({ event: "remote.login-refused", remote: name, failures: h.failures, retryInMs: h.downUntil - now, err: (err as Error).message },
          `remote ${name}: LOGIN REFUSED (${(err as Error).message}); fix the user or password in the config; its jobs wait, next login try in ${Math.ceil((h.downUntil - now) / 1000)} s`);
      } else this.#options.logger.warn({ remote: name, failures: h.failures, retryInMs: h.downUntil - now, err: (err as Error).message }, "remote unreachable; backing off");
      h.lastError = (err as Error).message;
      this.#health.set(name, h);
      this.#notify();
    }
    h.lastError = (err as Error).message;
    this.#health.set(name, h);
    return Math.max(0, h.downUntil - now);
  }
}

/**
 * `work`, or the signal's reason as soon as it aborts (a graceful stop's grace period ran out):
 * the pool finishes the abandoned use in the background and takes its connection back.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined); // settled later, after the caller has moved on
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
