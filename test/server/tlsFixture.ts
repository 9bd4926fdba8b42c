import type { TestContext } from "node:test";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { once } from "node:events";
import { generateSelfSignedCert, type GeneratedCert } from "../../src/server/index.js";
import { findPeer, requirePeer } from "../helpers/peers.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "./rawClient.js";

/** A self-signed certificate for localhost/127.0.0.1 in a temp dir. */
export interface TestCert extends GeneratedCert {
  remove(): Promise<void>;
}

/** Make the suite's certificate with openssl, or undefined when openssl is missing (see requireCert). */
export async function makeTestCert(): Promise<TestCert | undefined> {
  if (!findPeer("openssl")) return undefined;
  const dir = await tempDir("ferry-cert-");
  const cert = await generateSelfSignedCert(dir.path);
  return { ...cert, remove: dir.remove };
}

/** True when the certificate exists; otherwise fails (CI) or skips the test, naming the package. */
export function requireCert(t: TestContext, cert: TestCert | undefined): cert is TestCert {
  if (cert) return true;
  requirePeer(t, "openssl", "apt-get install -y openssl");
  return false;
}

/** Start TLS as the client on a RawClient's socket (after 234) and return a RawClient over it. */
export async function upgradeRaw(client: RawClient, ca: Buffer, session?: Buffer): Promise<{ raw: RawClient; tls: TLSSocket }> {
  const tls = tlsConnect({ socket: client.socket, ca, servername: "localhost", ...(session ? { session } : {}) });
  await once(tls, "secureConnect");
  return { raw: RawClient.over(tls), tls };
}

/** Open a TLS data connection to a passive port; resolves with everything received (or rejects). */
export async function readTlsData(port: number, ca: Buffer, session?: Buffer): Promise<Buffer> {
  const s = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost", ...(session ? { session } : {}) });
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  s.on("error", () => undefined);
  await once(s, "close");
  return Buffer.concat(chunks);
}
