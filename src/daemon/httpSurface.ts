import type { Logger } from "../log/index.js";
import type { HttpServer } from "../http/index.js";
import type { ResolvedConfig } from "./config.js";
import type { DaemonOperations } from "./operations.js";

/** The http section of a resolved config (absent: the surface is off). */
export type HttpSettings = NonNullable<ResolvedConfig["http"]>;

/** A change of the HTTP surface prepared by a reload: commit() makes it the running one, abort() drops it. */
export interface HttpChange {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const NO_CHANGE: HttpChange = { commit: async () => {}, abort: async () => {} };

/** Options of an HttpSurface. */
export interface HttpSurfaceOptions {
  readonly logger: Logger;
  /** The daemon as the surface sees it; called when a listener is built (the daemon has started). */
  readonly operations: () => DaemonOperations;
}

/**
 * The daemon's HTTP surface (API, metrics, dashboard) across SIGHUP reloads. A reload that
 * changes where it listens, or turns it on or off, binds the new listener first and closes the
 * old one only once the reload is applied: a new address that cannot be bound (its port is
 * taken) fails the reload while the old listener and the old config keep running. A change of
 * the token alone keeps the listener and checks the next request against the new token.
 * fastify is loaded only when a listener is first needed.
 */
export class HttpSurface {
  // parameters
  readonly #log: Logger;
  readonly #operations: () => DaemonOperations;
  // internal state
  #settings: HttpSettings | undefined;
  #server: HttpServer | undefined;

  constructor(options: HttpSurfaceOptions) {
    this.#log = options.logger;
    this.#operations = options.operations;
  }

  /** The listening port, when the surface is on. */
  get port(): number | undefined {
    return this.#server?.port;
  }

  /** Starts the surface the config asks for (nothing when it has no http section). */
  async start(settings: HttpSettings | undefined): Promise<void> {
    if (!settings) return;
    this.#server = await this.#listen(settings);
    this.#settings = settings;
  }

  /**
   * Prepares a reload's http section: binds the new listener beside the running one (throws,
   * changing nothing, when it cannot), or prepares the token swap. Nothing changes for clients
   * until commit().
   */
  async prepare(next: HttpSettings | undefined): Promise<HttpChange> {
    const current = this.#settings;
    if (sameListen(current, next)) {
      if (current?.token === next?.token) return NO_CHANGE;
      return {
        commit: async () => {
          this.#server?.setToken(next?.token);
          this.#settings = next;
          this.#log.info({ event: "http.token-changed" }, "HTTP bearer token replaced");
        },
        abort: async () => {},
      };
    }
    const fresh = next ? await this.#listenBeside(next) : undefined;
    return {
      commit: async () => {
        const old = this.#server;
        this.#server = fresh;
        this.#settings = next;
        if (old) {
          await old.close().catch((err: unknown) => this.#log.warn({ err }, "closing the previous HTTP listener failed"));
          this.#log.info({ event: "http.closed", host: current?.host, port: old.port }, "previous HTTP listener closed");
        }
      },
      abort: async () => {
        await fresh?.close();
      },
    };
  }

  /** Closes the listener. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }

  async #listen(settings: HttpSettings): Promise<HttpServer> {
    const { startHttpServer } = await import("../http/index.js");
    const server = await startHttpServer(this.#operations(), { host: settings.host, port: settings.port, ...(settings.token !== undefined ? { token: settings.token } : {}), logger: this.#log });
    this.#log.info({ event: "http.ready", host: settings.host, port: server.port, token: settings.token !== undefined }, "HTTP API, metrics and dashboard listening");
    return server;
  }

  /**
   * A listener on the new address while the old one still listens. The kernel refuses two
   * listeners on overlapping addresses with the same port (127.0.0.1:8384 then 0.0.0.0:8384),
   * so for that move only the old one closes first, and listens again if the new one fails.
   */
  async #listenBeside(next: HttpSettings): Promise<HttpServer> {
    try {
      return await this.#listen(next);
    } catch (err) {
      const current = this.#settings;
      if (!this.#server || !current || current.port !== next.port || !isAddressInUse(err)) throw err;
      await this.#server.close();
      this.#server = undefined;
      try {
        return await this.#listen(next);
      } catch (again) {
        this.#server = await this.#listen(current);
        throw again;
      }
    }
  }
}

/** Whether two http sections listen on the same address (both off counts as the same). */
function sameListen(a: HttpSettings | undefined, b: HttpSettings | undefined): boolean {
  if (!a || !b) return a === b;
  return a.host === b.host && a.port === b.port;
}

function isAddressInUse(err: unknown): boolean {
  return (err as { cause?: { code?: unknown } } | null)?.cause?.code === "EADDRINUSE";
}
