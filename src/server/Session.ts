import type { Socket } from "node:net";
import type { SecureContext, TLSSocket } from "node:tls";
import { randomUUID } from "node:crypto";
import type { Logger } from "../log/index.js";
import { formatReply, parseCommandLine, mask, MLSX_FACTS, type HashAlgorithm, type MlsxFact } from "../protocol/index.js";
import type { Authenticator, Perm, Principal } from "./Authenticator.js";
import { DataChannel, DataChannelError } from "./DataChannel.js";
import type { DigestCache } from "./digestCache.js";
import type { FolderSync } from "./folderSync.js";
import { FileSystem, ROOT_PATH, type VirtualPath } from "./FileSystem.js";
import type { ServerLimits } from "./limits.js";
import { COMMANDS } from "./commands/table.js";
import { ReplyError, replyForError } from "./errors.js";
import { decodeLine } from "./decodeLine.js";
import { acceptDataTls, createSessionContext, wrapServerSocket, type TlsPolicy } from "./tls.js";

/** What a session needs from its server. */
export interface SessionOptions {
  readonly authenticator: Authenticator;
  readonly limits: ServerLimits;
  readonly logger: Logger;
  /** Inclusive passive port range; default any free port. */
  readonly pasvPorts?: readonly [number, number] | undefined;
  /** Address advertised in 227 replies (for NAT); default the control connection's local address. */
  readonly pasvAddress?: string | undefined;
  /** TLS policy when the server has a certificate; without it AUTH TLS gets 502. */
  readonly tls?: TlsPolicy | undefined;
  /** The server's folder fsyncs, shared by its sessions' uploads (group commit). */
  readonly folders: FolderSync;
  /** The server's digests of files it wrote or read, for HASH. */
  readonly digests: DigestCache;
  /** Told when the session logs in (true) or out again (false): the server counts sessions waiting to log in. */
  readonly onLoginChange?: ((session: Session, loggedIn: boolean) => void) | undefined;
}

/** Result of a transfer body: bytes moved, and for uploads whether the data ended cleanly. */
export interface TransferResult {
  readonly bytes: number;
}

/** A transfer the session is running, so ABOR/STAT/QUIT can reach it. */
interface ActiveTransfer {
  readonly verb: string;
  readonly path: string;
  readonly abort: AbortController;
  readonly started: number;
  done: Promise<void>;
  bytes: () => number;
}

/** Commands queued beyond this pause reading from the socket (a flooding client waits). */
const MAX_QUEUED_LINES = 32;

/**
 * One control connection: reads command lines with a length cap, runs them one at a time
 * through the command table, and holds the session state (user, cwd, TYPE, REST, RNFR, data
 * channel). ABOR, STAT and QUIT are served even while a transfer runs.
 */
export class Session {
  // parameters
  readonly id = randomUUID().slice(0, 8);
  readonly options: SessionOptions;
  readonly logger: Logger;
  #socket: Socket;
  // TLS state (RFC 4217)
  /** This session's own TLS context (own ticket keys, see createSessionContext); set once the control connection is TLS. */
  #tlsContext: SecureContext | undefined;
  /** True after PBSZ (RFC 4217 section 8: PROT needs a prior PBSZ). */
  pbszDone = false;
  /** Data channel protection: C (clear) or P (private, TLS). */
  protection: "C" | "P" = "C";
  #upgrading = false;
  // login state
  principal: Principal | undefined;
  pendingUser: string | undefined;
  loginFailures = 0;
  #fs: FileSystem | undefined;
  // command state
  cwd: VirtualPath = ROOT_PATH;
  type: "A" | "I" = "I";
  restOffset = 0;
  renameFrom: VirtualPath | undefined;
  hashAlgorithm: HashAlgorithm = "SHA-256";
  /**
   * Set once the client asks for a checksum: from then on, transfers of whole files compute
   * one as the bytes pass (for the DigestCache), which clients that never ask do not pay for.
   */
  usesHash = false;
  mlstFacts: readonly MlsxFact[] = MLSX_FACTS;
  epsvAll = false;
  #data: DataChannel | undefined;
  #transfer: ActiveTransfer | undefined;
  // connection state
  #pending: Buffer = Buffer.alloc(0);
  #queue: string[] = [];
  #busy = false;
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #loginTimer: NodeJS.Timeout | undefined;
  readonly #closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  readonly #listeners = {
    data: (chunk: Buffer): void => this.#onData(chunk),
    error: (err: Error): void => this.logger.debug({ err: err.message }, "control connection error"),
    close: (): void => this.#onClose(),
  };

  /** `implicitTls`: the socket is already the TLS server side (implicit FTPS), under this session context. */
  constructor(socket: Socket, options: SessionOptions, implicitTls?: SecureContext) {
    this.#socket = socket;
    // Replies are small and a pipelining client waits for several in a row: Nagle would hold
    // each after the first until the client's delayed ACK (up to 40 ms per reply burst).
    socket.setNoDelay(true);
    this.options = options;
    this.logger = options.logger.child({ session: this.id, client: this.remoteAddress });
    this.#closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve));
    if (implicitTls) {
      this.#tlsContext = implicitTls;
      // Implicit FTPS protects data connections from the start, as clients expect.
      this.protection = "P";
    }
    this.#attach(socket);
    this.#armIdleTimer();
    this.#armLoginTimer();
  }

  #attach(socket: Socket): void {
    socket.on("data", this.#listeners.data);
    socket.on("error", this.#listeners.error);
    socket.once("close", this.#listeners.close);
  }

  #detach(socket: Socket): void {
    socket.off("data", this.#listeners.data);
    socket.off("close", this.#listeners.close);
  }

  /** True when the control connection runs over TLS (AUTH TLS done, or implicit FTPS). */
  get isSecure(): boolean {
    return this.#tlsContext !== undefined;
  }

  /**
   * AUTH TLS: reply 234 and turn the control connection into the TLS server side. Every
   * plaintext byte that arrived after the AUTH line (queued lines, a partial line, data
   * received while the 234 is flushed) is discarded, never run after the upgrade: running
   * it would let a man in the middle inject commands into the protected session (the
   * STARTTLS injection class of CVE-2011-0411).
   */
  async startTls(policy: TlsPolicy, text: string): Promise<void> {
    const context = createSessionContext(policy);
    this.#upgrading = true;
    const raw = this.#socket;
    await new Promise<void>((resolve) => raw.write(formatReply(234, text), () => resolve()));
    this.#queue.length = 0;
    this.#pending = Buffer.alloc(0);
    if (this.isClosed) return;
    this.#detach(raw);
    raw.resume(); // a paused socket would never deliver the client's hello to the TLS layer
    const tls: TLSSocket = wrapServerSocket(raw, context);
    this.#socket = tls;
    this.#tlsContext = context;
    this.#attach(tls);
    this.#upgrading = false;
    this.logger.info({ event: "session.tls" }, "control connection upgraded to TLS");
  }

  /**
   * False (after replying) when the data protection policy forbids a transfer now: PROT C
   * while TLS is required for data, for everyone or for this user (RFC 4217 section 9, 521).
   */
  checkDataProtection(): boolean {
    const required = (this.options.tls?.requireData ?? false) || (this.principal?.requireTlsData ?? false);
    if (!required || this.protection === "P") return true;
    this.reply(521, "Data connections must be protected on this server: send PBSZ 0 and PROT P first");
    return false;
  }

  /** The client's address (IPv4-mapped addresses as the socket reports them). */
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }

  /** The server address the client connected to. */
  get localAddress(): string {
    return this.#socket.localAddress ?? "";
  }

  /** Resolves when the control connection has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** True when the control connection is gone (a transfer then cannot be confirmed). */
  get isClosed(): boolean {
    return this.#closed || this.#socket.destroyed;
  }

  /** The logged-in user's filesystem; handlers of auth-only commands may rely on it. */
  get fs(): FileSystem {
    if (!this.#fs) throw new Error("no filesystem before login");
    return this.#fs;
  }

  /** The running transfer's verb, path and bytes so far, if any. */
  get transfer(): { verb: string; path: string; bytes: number } | undefined {
    const t = this.#transfer;
    return t ? { verb: t.verb, path: t.path, bytes: t.bytes() } : undefined;
  }

  /** Greet the client (RFC 959: 220 on connect). */
  start(): void {
    this.logger.info({ event: "session.start" }, "session started");
    this.reply(220, "ferry FTP server ready");
  }

  /** Send one reply (multi-line when `text` has several lines). */
  reply(code: number, text: string | readonly string[]): void {
    this.writeRaw(formatReply(code, text));
  }

  /** Write preformatted control text (streamed STAT listings). Returns false when the socket buffer is full. */
  writeRaw(text: string): boolean {
    if (this.isClosed) return false;
    return this.#socket.write(text, "utf8");
  }

  /** Write control text, waiting while the socket's buffer is full (streamed STAT listings). */
  async writeControl(text: string): Promise<void> {
    if (this.isClosed) throw new Error("control connection closed");
    if (!this.#socket.write(text, "utf8")) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#socket.off("drain", done);
          this.#socket.off("close", done);
          resolve();
        };
        this.#socket.on("drain", done);
        this.#socket.on("close", done);
      });
    }
  }

  /** Reply, then close the control connection. */
  replyAndClose(code: number, text: string): void {
    this.reply(code, text);
    this.close();
  }

  /** Close the control connection (after flushing what is written) and any data channel. */
  close(): void {
    this.#closed = true;
    this.#data?.close();
    this.#transfer?.abort.abort();
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 2000).unref();
  }

  /** Record a successful login and open the user's filesystem. */
  async login(principal: Principal): Promise<void> {
    this.#fs = await FileSystem.open(principal.root, this.options.folders);
    this.principal = principal;
    this.cwd = ROOT_PATH;
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
    this.options.onLoginChange?.(this, true);
  }

  /** Forget the login (USER starts a new one, under a fresh login timeout). */
  logout(): void {
    const wasLoggedIn = this.principal !== undefined;
    this.principal = undefined;
    this.#fs = undefined;
    if (wasLoggedIn) {
      this.options.onLoginChange?.(this, false);
      this.#armLoginTimer();
    }
  }

  /** True when the logged-in user holds `perm`. */
  can(perm: Perm): boolean {
    return this.principal !== undefined && this.options.authenticator.can(this.principal, perm);
  }

  /** Resolve a path argument against the cwd (refusing NUL/CR/LF). */
  resolve(arg: string): VirtualPath {
    return this.fs.resolve(this.cwd, arg === "" ? "." : arg);
  }

  /** Replace the prepared data channel (PASV/EPSV/PORT/EPRT). */
  setDataChannel(channel: DataChannel | undefined): void {
    this.#data?.close();
    this.#data = channel;
  }

  /** True when PASV/EPSV/PORT/EPRT prepared a data channel; otherwise replies 425 (checked before opening files). */
  requireDataChannel(): boolean {
    if (!this.checkDataProtection()) return false;
    if (this.#data) return true;
    this.reply(425, "Use PASV, EPSV, PORT or EPRT first");
    return false;
  }

  /** Take REST's offset for one transfer (it applies to the next transfer only). */
  takeRestOffset(): number {
    const r = this.restOffset;
    this.restOffset = 0;
    return r;
  }

  /**
   * Run one transfer over the prepared data channel: reply 125 or 150, wait for the data
   * connection (guideline 5), run `body`, then reply 226 or 426. `body` receives an abort
   * signal that fires on ABOR, on a stalled data connection and when the control
   * connection drops. Returns whether the transfer completed.
   */
  async runTransfer(
    verb: string, path: string, preliminary: string,
    body: (data: Socket, signal: AbortSignal) => Promise<TransferResult>,
  ): Promise<boolean> {
    if (!this.checkDataProtection()) return false;
    const channel = this.#data;
    this.#data = undefined;
    if (!channel) {
      this.reply(425, "Use PASV, EPSV, PORT or EPRT first");
      return false;
    }
    this.reply(channel.isConnected ? 125 : 150, preliminary);
    const abort = new AbortController();
    let bytes = 0;
    let settle!: () => void;
    const t: ActiveTransfer = { verb, path, abort, started: Date.now(), done: new Promise((r) => (settle = r)), bytes: () => bytes };
    this.#transfer = t;
    let status: "completed" | "aborted" = "aborted";
    let reason: string | undefined;
    let failure: ReplyError | undefined; // a failure with its own reply (452 disk full) instead of 426
    let secured: TLSSocket | undefined;
    abort.signal.addEventListener("abort", () => {
      channel.close();
      secured?.destroy();
    }, { once: true });
    try {
      let socket = await channel.open(this.options.limits.dataTimeoutMs);
      if (this.protection === "P" && this.#tlsContext) {
        // The 150/125 went out first: ftplib and others start the data handshake only after it.
        secured = await acceptDataTls(socket, this.#tlsContext, this.options.tls?.requireSessionReuse ?? true, this.options.limits.dataTimeoutMs);
        socket = secured;
      }
      socket.setTimeout(this.options.limits.dataTimeoutMs, () => abort.abort(new Error("data connection stalled")));
      // A reset data connection (RST) ends the transfer at once: a body waiting for 'drain'
      // would otherwise wait for an event a destroyed socket never sends (A18). A clean close
      // is left to the body, since an upload's FIN may close the socket before its last
      // bytes are on disk.
      socket.once("close", (hadError: boolean) => {
        if (hadError) abort.abort(new Error("data connection reset by the client"));
      });
      const result = await body(socket, abort.signal);
      bytes = result.bytes;
      await new Promise((r) => setImmediate(r)); // let a pending control-connection close land first
      if (abort.signal.aborted || this.isClosed) {
        reason = this.isClosed ? "control connection closed" : String(abort.signal.reason ?? "aborted");
      } else {
        status = "completed";
      }
    } catch (err) {
      reason = abort.signal.aborted ? String((abort.signal.reason as Error | undefined)?.message ?? "aborted") : (err as Error).message;
      if (err instanceof ReplyError && !abort.signal.aborted) failure = err;
      if (err instanceof DataChannelError) {
        channel.close();
        this.#transfer = undefined;
        this.logger.warn({ event: "transfer", verb, path, status: "no-connection", reason, detail: err.detail }, `${verb} ${path}: no data connection`);
        this.reply(err.code, err.code === 425 ? `Cannot open data connection: ${err.message}` : err.message);
        settle();
        return false;
      }
    } finally {
      channel.close();
      secured?.destroy();
      this.#transfer = undefined;
    }
    this.#finishTransfer(t, status, status === "completed" ? bytes : t.bytes(), reason, failure);
    settle();
    return status === "completed";
  }

  /** The transfer's log line and final reply. An incomplete transfer is never logged as complete. */
  #finishTransfer(t: ActiveTransfer, status: "completed" | "aborted", bytes: number, reason: string | undefined, failure?: ReplyError): void {
    const log = {
      event: "transfer", verb: t.verb, path: t.path, bytes, durationMs: Date.now() - t.started, status,
      complete: status === "completed", user: this.principal?.name,
    };
    if (status === "completed") {
      this.logger.info(log, `${t.verb} ${t.path} completed`);
      this.reply(226, `Transfer complete (${bytes} bytes)`);
    } else {
      this.logger.warn({ ...log, reason }, `${t.verb} ${t.path} ABORTED (partial: ${bytes} bytes)`);
      if (failure) this.reply(failure.code, failure.message);
      else this.reply(426, `Transfer aborted: ${reason ?? "connection closed"}`);
    }
  }

  /** Record the bytes of a running transfer so STAT and the abort log can report them. */
  setTransferProgress(read: () => number): void {
    if (this.#transfer) this.#transfer.bytes = read;
  }

  /** Abort the running transfer (ABOR, QUIT, shutdown); resolves when its 426 is sent. False if none ran. */
  async abortTransfer(reason: string): Promise<boolean> {
    const t = this.#transfer;
    if (!t) {
      this.setDataChannel(undefined);
      return false;
    }
    t.abort.abort(new Error(reason));
    await t.done;
    return true;
  }

  /** Resolves when no transfer is running (graceful shutdown waits on this). */
  async transferDone(): Promise<void> {
    await this.#transfer?.done;
  }

  /** True while the session runs no command and no transfer. */
  get isIdle(): boolean {
    return !this.#busy && !this.#transfer && this.#queue.length === 0;
  }

  #armIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#transfer || this.#busy) return this.#armIdleTimer();
      this.logger.info({ event: "session.idle" }, "idle timeout");
      this.replyAndClose(421, `Idle timeout (${formatSeconds(this.options.limits.idleTimeoutMs)}), closing control connection`);
    }, this.options.limits.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  /**
   * The login timeout runs from connect (or from a logout) to a successful login; unlike the
   * idle timer, no command resets it, so NOOPs or a slow dribble cannot hold a slot (I11).
   */
  #armLoginTimer(): void {
    clearTimeout(this.#loginTimer);
    const ms = this.options.limits.loginTimeoutMs;
    this.#loginTimer = setTimeout(() => {
      if (this.principal || this.isClosed) return;
      this.logger.info({ event: "session.loginTimeout", ms }, "login timeout");
      this.replyAndClose(421, `Login timeout (${formatSeconds(ms)}): log in sooner after connecting; closing control connection`);
    }, ms);
    this.#loginTimer.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed || this.#upgrading) return;
    let buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const max = this.options.limits.maxLineLength;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (line.length > max) return this.#dropLongLine(line.length);
      this.#onLine(decodeLine(line));
      if (this.#closed || this.#upgrading) return;
    }
    // Only up to one line is ever held: a client streaming a 1 MB "line" is cut off at the cap.
    if (buf.length > max) return this.#dropLongLine(buf.length);
    this.#pending = Buffer.from(buf);
  }

  #dropLongLine(length: number): void {
    this.logger.warn({ event: "session.lineTooLong", length }, "command line too long, closing");
    this.#pending = Buffer.alloc(0);
    // Read no more of it: the rest of a 5 MB "line" would only pass through memory (A11).
    this.#socket.pause();
    this.replyAndClose(500, `Command line too long (limit ${this.options.limits.maxLineLength} bytes), closing`);
  }

  #onLine(line: string): void {
    this.#armIdleTimer();
    const { verb } = parseCommandLine(line);
    if (this.#transfer && COMMANDS.get(verb)?.duringTransfer) {
      void this.#execute(line);
      return;
    }
    this.#queue.push(line);
    if (this.#queue.length > MAX_QUEUED_LINES) this.#socket.pause();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let line = this.#queue.shift(); line !== undefined && !this.#closed; line = this.#queue.shift()) {
        if (this.#queue.length <= MAX_QUEUED_LINES / 2) this.#socket.resume();
        await this.#execute(line);
      }
    } finally {
      this.#busy = false;
    }
  }

  /** preProcess (STYLE.md guideline 6): 500 unknown, 530 before login, 501 argument, 550 permission; then the handler. */
  async #execute(line: string): Promise<void> {
    const { verb, arg } = parseCommandLine(line);
    this.logger.debug({ command: mask(line) }, "command");
    const spec = COMMANDS.get(verb);
    if (!spec) return this.reply(500, `Unknown command ${JSON.stringify(verb.slice(0, 20))}`);
    // A CR or NUL inside a line (I6, A9, A10) is never part of a name, a password or a path:
    // refused for every verb, before any handler can act on it.
    const bad = /[\r\0]/.exec(arg);
    if (bad) return this.reply(501, `${verb} argument contains a ${bad[0] === "\0" ? "NUL" : "CR"} character: not allowed in FTP commands`);
    if (spec.auth && !this.principal) return this.reply(530, "Please log in with USER and PASS first");
    if (spec.arg === "required" && arg === "") return this.reply(501, `${verb} needs an argument: ${spec.help}`);
    if (spec.arg === "forbidden" && arg !== "") return this.reply(501, `${verb} takes no argument: ${spec.help}`);
    if (spec.perm && !this.can(spec.perm)) return this.reply(550, `Permission denied: ${this.principal?.name} may not ${spec.perm}`);
    try {
      await spec.handler(this, arg);
    } catch (err) {
      const { code, text, unexpected } = replyForError(err, arg);
      if (unexpected) this.logger.error({ err, verb }, "command failed");
      this.reply(code, text);
    }
  }

  #onClose(): void {
    this.#closed = true;
    this.#resolveClosed();
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#loginTimer);
    this.#data?.close();
    this.#transfer?.abort.abort(new Error("control connection closed"));
    this.logger.info({ event: "session.end", user: this.principal?.name }, "session ended");
  }
}

/** "30 s", or "0.2 s" for the short timeouts tests use. */
function formatSeconds(ms: number): string {
  return `${ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10} s`;
}
