import { ClientPool, FtpClient, parseFtpUrl } from "../../src/client/index.js";

/** A ClientPool for an ftp:// URL (credentials in the URL), with short timeouts for tests. */
export function poolFor(url: string, max = 4): ClientPool {
  const u = parseFtpUrl(url);
  return new ClientPool({
    max,
    connect: () => FtpClient.connect({
      host: u.host, port: u.port, ...(u.user ? { user: u.user } : {}), ...(u.password ? { password: u.password } : {}),
      connectTimeoutMs: 5000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000,
    }),
  });
}
