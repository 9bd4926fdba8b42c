import { execFile } from "node:child_process";
import { chmod, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A certificate and key written as PEM files, with their contents. */
export interface GeneratedCert {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Make a self-signed certificate for `names` (default localhost and 127.0.0.1) with the
 * `openssl` command into `dir` (cert.pem, key.pem, the key mode 0600). Clients do not
 * trust it unless told to (their CA option pointing at cert.pem, or "insecure"): it is for
 * tests and loopback demos, never for a server others rely on.
 */
export async function generateSelfSignedCert(dir: string, names: readonly string[] = ["localhost", "127.0.0.1"], days = 365): Promise<GeneratedCert> {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  try {
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", String(days),
      "-subj", `/CN=${names[0] ?? "localhost"}`, "-addext", `subjectAltName=${san}`,
      "-keyout", keyPath, "-out", certPath,
    ], { timeout: 60_000 });
    await chmod(keyPath, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("cannot generate a certificate: the openssl command is not installed (apt-get install -y openssl), or pass --tls-cert/--tls-key", { cause: err });
    }
    throw new Error(`openssl failed to generate a certificate: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { cause: err });
  }
  return { certPath, keyPath, cert: await readFile(certPath), key: await readFile(keyPath) };
}
