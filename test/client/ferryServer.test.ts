import { randomBytes } from "node:crypto";
import { startFerryServer } from "../helpers/ferryServer.js";
import { runClientConformance } from "./conformance.js";

// ferry's own server (src/server), in-process: MLSD/MLST, MFMT, HASH and the X* checksum
// commands are all offered, so this run covers the paths vsftpd and pure-ftpd cannot.
runClientConformance("ferry server", async () => {
  const user = { name: "conf", password: randomBytes(9).toString("hex") };
  const server = await startFerryServer({ users: [user] });
  return {
    host: server.host, port: server.port, user: user.name, password: user.password, home: server.root,
    quirks: { mlst: true, setTime: "MFMT", hash: true, dotfiles: true },
    stop: () => server.close(),
  };
});
