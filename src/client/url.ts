/** A parsed ftp://, ftpes:// or ftps:// URL. */
export interface FtpUrl {
  /** "none" (ftp://), "explicit" (ftpes://: AUTH TLS on the plain port), "implicit" (ftps://: TLS from the first byte). */
  secure: "none" | "explicit" | "implicit";
  host: string;
  port: number;
  user?: string;
  password?: string;
  /**
   * The path, percent-decoded. As in RFC 1738 section 3.2.2 (and curl, lftp), it is relative
   * to the login directory: "ftp://h/a/b" gives "a/b"; an absolute path needs a second slash
   * or %2F ("ftp://h//srv/a" or "ftp://h/%2Fsrv/a" give "/srv/a"). No path gives ".".
   */
  path: string;
}

/** A URL ferry cannot use; the message names the problem and the accepted form. */
export class FtpUrlError extends Error {
  override readonly name = "FtpUrlError";
}

const SCHEMES: Readonly<Record<string, { secure: FtpUrl["secure"]; port: number }>> = {
  "ftp:": { secure: "none", port: 21 },
  "ftpes:": { secure: "explicit", port: 21 },
  "ftps:": { secure: "implicit", port: 990 },
};

function decode(part: string, what: string, shown: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new FtpUrlError(`${shown}: the ${what} has a broken %-escape; write a literal % as %25`);
  }
}

/** The URL with any password replaced by "****", for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*:)[^@/]*@/i, "$1****@");
}

/** Parse an FTP URL: scheme, host, port (21, or 990 for ftps://), percent-decoded user, password and path. */
export function parseFtpUrl(url: string): FtpUrl {
  const shown = JSON.stringify(redactUrl(url));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FtpUrlError(`${shown} is not a URL; expected ftp://[user[:password]@]host[:port]/path (or ftpes://, ftps://)`);
  }
  const scheme = SCHEMES[parsed.protocol];
  if (!scheme) {
    throw new FtpUrlError(`${shown}: unsupported scheme ${JSON.stringify(parsed.protocol.replace(/:$/, ""))}; use ftp://, ftpes:// (explicit TLS) or ftps:// (implicit TLS)`);
  }
  // WHATWG URL reads "ftp:/host" and "ftp:host" as "ftp://host": a typo that must not reach some host by luck.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(url)) {
    throw new FtpUrlError(`${shown}: the scheme must be followed by two slashes and a host, as in ${parsed.protocol}//host/path`);
  }
  if (parsed.hostname === "") throw new FtpUrlError(`${shown} has no host; expected ftp://host/path`);
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new FtpUrlError(`${shown}: "?" and "#" are not part of an FTP URL; write them as %3F and %23 in names`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = parsed.port === "" ? scheme.port : Number(parsed.port);
  // WHATWG URL keeps the path percent-encoded; "/a/b" -> "a/b", "//a" -> "/a", "/%2Fa" -> "/a".
  const rawPath = parsed.pathname.startsWith("/") ? parsed.pathname.slice(1) : parsed.pathname;
  const path = decode(rawPath, "path", shown);
  if (path.includes("\0")) throw new FtpUrlError(`${shown}: the path contains NUL`);
  const result: FtpUrl = { secure: scheme.secure, host, port, path: path === "" ? "." : path };
  if (parsed.username !== "") result.user = decode(parsed.username, "user name", shown);
  if (parsed.password !== "") result.password = decode(parsed.password, "password", shown);
  return result;
}
