/** Resource limits of the FTP server; every field has a default (DEFAULT_LIMITS). */
export interface ServerLimits {
  /** Longest command line accepted, in bytes; longer lines get 500 and the session is dropped. Default 4096. */
  readonly maxLineLength: number;
  /** Control connections in all; more get 421. Default 256. */
  readonly maxConnections: number;
  /** Control connections from one client address; more get 421. Default 32. */
  readonly maxConnectionsPerAddress: number;
  /** A session with no command and no transfer for this long gets 421 and is closed. Default 5 minutes. */
  readonly idleTimeoutMs: number;
  /**
   * Time from connect (TLS handshake included) to a successful login; commands such as NOOP
   * do not extend it, so a client that never logs in cannot hold a slot by chattering
   * (vsftpd's and pyftpdlib's idea, at pyftpdlib-like scale). Gets 421 and a close. Default 30 s.
   */
  readonly loginTimeoutMs: number;
  /**
   * Sessions not (yet) logged in, in all; a new connection beyond it gets 421. Kept below
   * maxConnections so clients that never log in cannot take every slot. Default 128.
   */
  readonly maxUnauthenticated: number;
  /** Sessions not (yet) logged in from one client address; more get 421. Default 10. */
  readonly maxUnauthenticatedPerAddress: number;
  /** Time to open a data connection, and longest stall inside a transfer. Default 30 s. */
  readonly dataTimeoutMs: number;
  /** Delay before answering a failed PASS (slows password guessing, RFC 2577 section 5). Default 1 s. */
  readonly loginFailureDelayMs: number;
  /** Failed logins after which the session is closed with 421. Default 3. */
  readonly maxLoginFailures: number;
  /** On shutdown, running transfers get this long to finish before connections are cut. Default 10 s. */
  readonly shutdownGraceMs: number;
}

/** The defaults: generous enough for lftp's parallel mirror, tight enough for an exposed port. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxLineLength: 4096,
  maxConnections: 256,
  maxConnectionsPerAddress: 32,
  idleTimeoutMs: 300_000,
  loginTimeoutMs: 30_000,
  maxUnauthenticated: 128,
  maxUnauthenticatedPerAddress: 10,
  dataTimeoutMs: 30_000,
  loginFailureDelayMs: 1000,
  maxLoginFailures: 3,
  shutdownGraceMs: 10_000,
};

/** Chunk size of file streams and socket writes: large chunks let loopback transfers run at disk speed. */
export const STREAM_CHUNK_BYTES = 1024 * 1024;
