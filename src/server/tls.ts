import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import { DataChannelError } from "./DataChannel.js";

/** TLS settings of the server (explicit AUTH TLS on the normal port, optionally implicit TLS on another). */
export interface ServerTlsOptions {
  /** PEM certificate chain (file contents, not a path). */
  readonly cert: string | Buffer;
  /** PEM private key (file contents, not a path). */
  readonly key: string | Buffer;
  /** Refuse USER on a connection without TLS, for every user (vsftpd's force_local_logins_ssl); default false. */
  readonly requireLogin?: boolean;
  /** Refuse transfers and listings under PROT C, for every user (vsftpd's force_local_data_ssl); default false. */
  readonly requireData?: boolean;
  /**
   * Refuse a PROT P data connection whose TLS session does not resume the control
   * connection's (vsftpd's require_ssl_reuse); default true.
   */
  readonly requireSessionReuse?: boolean;
  /** Port of the implicit-TLS listener (TLS from the first byte, 990 by convention); default none. */
  readonly implicitPort?: number;
  /** Oldest TLS version accepted; default "TLSv1.2". */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3";
}

/** The TLS policy a session applies, resolved from ServerTlsOptions. */
export interface TlsPolicy {
  readonly options: ServerTlsOptions;
  readonly requireLogin: boolean;
  readonly requireData: boolean;
  readonly requireSessionReuse: boolean;
}

// Tickets issued on the control connection must stay usable for the whole session: the
// client resumes them on every data connection, and a session may last hours. TLS 1.3
// caps ticket lifetimes at 7 days (RFC 8446 section 4.6.1); one day is plenty.
const TICKET_LIFETIME_S = 24 * 3600;

/** Resolve the policy and check the certificate and key once, so a bad pair fails at start, not at the first AUTH. */
export function tlsPolicy(options: ServerTlsOptions): TlsPolicy {
  try {
    createSessionContext({ options } as TlsPolicy);
  } catch (err) {
    throw new Error(`TLS certificate/key: ${(err as Error).message} (expected PEM contents of a certificate and its private key)`, { cause: err });
  }
  return {
    options,
    requireLogin: options.requireLogin ?? false,
    requireData: options.requireData ?? false,
    requireSessionReuse: options.requireSessionReuse ?? true,
  };
}

/**
 * A fresh SecureContext for one control session, with its own random session-ticket keys.
 *
 * Why per session: a data connection can then only resume a TLS session from a ticket that
 * this context issued, i.e. one handed out on this control connection (or on an earlier
 * data connection of the same session, itself resumed from it). So `isSessionReused()` on a
 * data connection proves its peer holds this control session's ticket secret: a third party
 * who races to the passive port ("data connection theft") cannot resume it, and a ticket of
 * another session of the same server does not decrypt here.
 *
 * What is not guaranteed: the ticket proves knowledge of the session's resumption secret,
 * not the identity of a human; a client that leaks its tickets leaks that proof. Resumption
 * by TLS 1.2 session ID is not offered (Node's server-side ID cache needs a tls.Server), so
 * TLS 1.2 clients must support session tickets (RFC 5077) to pass the reuse check; OpenSSL,
 * GnuTLS and Python's ssl do by default.
 */
export function createSessionContext(policy: TlsPolicy): SecureContext {
  return createSecureContext({
    cert: policy.options.cert, key: policy.options.key,
    minVersion: policy.options.minVersion ?? "TLSv1.2",
    ticketKeys: randomBytes(48), sessionTimeout: TICKET_LIFETIME_S,
  });
}

/** Wrap a connected socket as the TLS server side (the handshake starts when the client's hello arrives). */
export function wrapServerSocket(socket: Socket, context: SecureContext): TLSSocket {
  const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
  tls.on("error", () => undefined); // the owner (Session or transfer) reports failures
  return tls;
}

/**
 * Run the server side of a PROT P data connection's handshake (RFC 4217 section 9) and
 * apply the session-reuse rule. Rejects with DataChannelError carrying 522, which the
 * transfer sends as its final reply; the raw socket is destroyed on failure.
 */
export function acceptDataTls(raw: Socket, context: SecureContext, requireReuse: boolean, timeoutMs: number): Promise<TLSSocket> {
  const tls = wrapServerSocket(raw, context);
  return new Promise<TLSSocket>((resolve, reject) => {
    // The reply stays plain; OpenSSL's own words (library, function, reason codes) tell an
    // attacker about the build and go to the log only.
    const fail = (message: string, detail?: string): void => {
      clearTimeout(timer);
      tls.destroy();
      raw.destroy();
      reject(new DataChannelError(message, 522, detail));
    };
    const timer = setTimeout(() => fail(`TLS handshake on the data connection not done within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    tls.once("error", (err) => fail("TLS handshake on the data connection failed", err.message));
    const onClose = (): void => fail("data connection closed during the TLS handshake");
    tls.once("close", onClose);
    tls.once("secure", () => {
      if (requireReuse && !tls.isSessionReused()) {
        return fail("TLS session reuse required on the data connection: the client must resume the control connection's TLS session");
      }
      clearTimeout(timer);
      tls.off("close", onClose);
      resolve(tls);
    });
  });
}
