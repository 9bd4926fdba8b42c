import { isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { DataConnection } from "./dataChannel.js";
import type { FileReceiver } from "./fileReceiver.js";
import { FtpConnectionError } from "./errors.js";

/** TLS settings of one client session, and the session to resume on data connections. */
export interface TlsState {
  /** The server's host as the user gave it: every TLS connection of the session names it. */
  readonly host: string;
  readonly options: ConnectionOptions;
  session?: Buffer;
}

/**
 * TLS options for `host`: SNI with a host name (never with an IP address, RFC 6066 section
 * 3), then the caller's own (ca, rejectUnauthorized, minVersion ...).
 */
export function tlsStateFor(host: string, user: ConnectionOptions | undefined): TlsState {
  return { host, options: { ...(isIP(host) ? {} : { servername: host }), ...user } };
}

/**
 * Start TLS on a connected (or connecting) socket as the client, remembering the session for
 * data connections. `host` goes along with a socket too: without it Node 22 and later take
 * "localhost" as the host of a TLS connection over a given socket and send it as SNI, and a
 * session is only resumed under the SNI it was issued for (RFC 8446 section 4.6.1). A control
 * connection opened by host (implicit FTPS, an IP address: no SNI) then had every data
 * connection refused by servers that require session reuse.
 */
export function startTls(state: TlsState, socket: Socket | undefined, port: number): TLSSocket {
  const tls = tlsConnect({ ...state.options, host: state.host, ...(socket ? { socket } : { port }) });
  // TLS 1.3 delivers session tickets after the handshake: keep the latest for data connections.
  tls.on("session", (session: Buffer) => {
    state.session = session;
  });
  return tls;
}

/**
 * Wrap a data connection in TLS that resumes the control connection's session (STYLE
 * guideline 8): vsftpd's require_ssl_reuse (on by default) refuses data connections that do
 * not, so a third party cannot inject a data connection. The socket resolves once the
 * handshake is done (a TLS socket ended mid-handshake breaks it, e.g. for an empty upload);
 * the transfer only awaits it after sending its command, since many servers begin the
 * handshake only then. A FileReceiver given as `receiver` reads the TLS socket (downloadFile).
 */
export function wrapDataTls(data: DataConnection, state: TlsState, receiver?: FileReceiver): DataConnection {
  const socket = data.socket.then((raw) => new Promise<Socket>((resolve, reject) => {
    const tls = tlsConnect({ ...state.options, host: state.host, socket: raw, ...(state.session ? { session: state.session } : {}) });
    const onError = (err: Error): void => reject(new FtpConnectionError(`TLS on the data connection: ${err.message}`, { cause: err }));
    tls.once("error", onError);
    tls.once("secureConnect", () => {
      tls.off("error", onError);
      receiver?.feedFrom(tls);
      resolve(tls);
    });
  }));
  socket.catch(() => undefined);
  return {
    socket,
    ...(receiver ? { receiver } : {}),
    close: () => {
      data.close();
      socket.then((s) => s.destroy(), () => undefined);
    },
  };
}
