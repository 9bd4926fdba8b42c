import { after, before, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "basic-ftp";
import { requirePeer } from "../helpers/peers.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { makeTestCert, requireCert, type TestCert } from "./tlsFixture.js";

const run = promisify(execFile);
const FTPLIB = join(dirname(fileURLToPath(import.meta.url)), "ftplib_tls_client.py");

/** Real FTPS clients against ferry's server: explicit (AUTH TLS) and implicit, data under PROT P, bytes compared. */
describe("interop over TLS: curl, lftp, ftplib, basic-ftp against ferry serve", () => {
  let cert: TestCert | undefined;
  let srv: RunningFerryServer; // requireLogin + requireData + session reuse (the default)
  let lax: RunningFerryServer; // session reuse not required (for ftplib)
  let local: { path: string; remove: () => Promise<void> };
  const data = pseudoRandomBytes(2_000_000, 21);
  const upload = pseudoRandomBytes(1_500_003, 22);

  before(async () => {
    local = await tempDir();
    cert = await makeTestCert();
    if (!cert) return;
    const tls = { cert: cert.cert, key: cert.key, implicitPort: 0, requireLogin: true, requireData: true };
    srv = await startFerryServer({ tls });
    lax = await startFerryServer({ tls: { ...tls, requireSessionReuse: false } });
    for (const s of [srv, lax]) await writeFile(join(s.root, "down.bin"), data);
    await writeFile(join(local.path, "up.bin"), upload);
  });
  after(async () => {
    await srv?.close();
    await lax?.close();
    await cert?.remove();
    await local.remove();
  });

  const peer = (t: TestContext, name: string): string | undefined =>
    requireCert(t, cert) ? requirePeer(t, name, `apt-get install -y ${name === "python3" ? "python3" : name}`) : undefined;

  for (const scheme of ["ftp", "ftps"] as const) {
    const how = scheme === "ftp" ? "explicit (--ssl-reqd)" : "implicit (ftps://)";
    it(`curl ${how}: list, download, upload`, async (t) => {
      const curl = peer(t, "curl");
      if (!curl) return;
      const port = scheme === "ftp" ? srv.port : srv.implicitPort;
      const base = `${scheme}://user:pass@127.0.0.1:${port}`;
      const c = async (...args: string[]) =>
        (await run(curl, ["-sS", "--max-time", "30", "--ssl-reqd", "--cacert", cert!.certPath, ...args], { encoding: "buffer", maxBuffer: 64 << 20 })).stdout;
      assert.match((await c(`${base}/`)).toString(), /down\.bin$/m);
      assert.deepEqual(await c(`${base}/down.bin`), data);
      await c("-T", join(local.path, "up.bin"), `${base}/curl-${scheme}.bin`);
      assert.deepEqual(await readFile(join(srv.root, `curl-${scheme}.bin`)), upload);
      // -k instead of the CA: what the issue names for self-signed test setups.
      assert.deepEqual(await run(curl, ["-sS", "--max-time", "30", "--ssl-reqd", "-k", `${base}/down.bin`], { encoding: "buffer", maxBuffer: 64 << 20 }).then((r) => r.stdout), data);
    });
  }

  it("curl without TLS is refused by the server requiring it (530 on USER)", async (t) => {
    const curl = peer(t, "curl");
    if (!curl) return;
    const r = await run(curl, ["-sS", "--max-time", "30", "-v", `ftp://user:pass@127.0.0.1:${srv.port}/`]).then(() => undefined, (e: { stderr: string }) => e.stderr);
    assert.ok(r, "curl fails");
    assert.match(r, /< 530 TLS required/);
  });

  for (const implicit of [false, true]) {
    it(`lftp ${implicit ? "implicit (ftps://)" : "explicit (ftp:ssl-force)"}: ls, get, put`, async (t) => {
      const lftp = peer(t, "lftp");
      if (!lftp) return;
      const settings = "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 10; set xfer:clobber on; set cmd:fail-exit yes";
      const url = implicit ? `ftps://127.0.0.1:${srv.implicitPort}` : `ftp://127.0.0.1:${srv.port}`;
      const name = `lftp-${implicit ? "i" : "e"}.bin`;
      const { stdout } = await run(lftp, ["-u", "user,pass", "-e", `${settings}; ls; get down.bin -o ${name}; put up.bin -o ${name}; quit`, url],
        { cwd: local.path, timeout: 60_000, maxBuffer: 16 << 20 });
      assert.match(stdout, /down\.bin/);
      assert.deepEqual(await readFile(join(local.path, name)), data);
      assert.deepEqual(await readFile(join(srv.root, name)), upload);
    });
  }

  it("Python ftplib.FTP_TLS: works where reuse is not required; refused with a clear 522 where it is", async (t) => {
    const python = peer(t, "python3");
    if (!python) return;
    const ok = JSON.parse((await run(python, [FTPLIB, String(lax.port), cert!.certPath, local.path], { timeout: 60_000, maxBuffer: 64 << 20 })).stdout) as Record<string, string>;
    assert.match(ok.auth ?? "", /^234/);
    assert.match(ok.prot ?? "", /^200/);
    assert.equal(ok.error, undefined);
    assert.deepEqual(Buffer.from(ok.retr ?? "", "hex"), data);
    assert.match(ok.stor ?? "", /^226/);
    assert.deepEqual(await readFile(join(lax.root, "up.bin")), upload);
    assert.ok((ok.nlst as unknown as string[]).includes("up.bin"));
    const refused = JSON.parse((await run(python, [FTPLIB, String(srv.port), cert!.certPath, local.path], { timeout: 60_000 })).stdout) as Record<string, string>;
    assert.match(refused.error ?? "", /^522 .*session reuse required/i);
    assert.match(refused.quit ?? "", /^221/, "the control connection survives the refusal");
  });

  for (const secure of [true, "implicit"] as const) {
    it(`basic-ftp secure: ${JSON.stringify(secure)}: upload, list, download`, async (t) => {
      if (!requireCert(t, cert)) return;
      const client = new Client(20_000);
      try {
        await client.access({
          host: "127.0.0.1", port: secure === true ? srv.port : srv.implicitPort, user: "user", password: "pass",
          secure, secureOptions: { rejectUnauthorized: false },
        });
        const name = `basic-${secure === true ? "e" : "i"}.bin`;
        await client.uploadFrom(join(local.path, "up.bin"), name);
        assert.deepEqual(await readFile(join(srv.root, name)), upload);
        assert.ok((await client.list()).some((e) => e.name === "down.bin" && e.size === data.length));
        await client.downloadTo(join(local.path, `dl-${name}`), "down.bin");
        assert.deepEqual(await readFile(join(local.path, `dl-${name}`)), data);
      } finally {
        client.close();
      }
    });
  }
});
