import { isIP } from "node:net";
import {
  formatEpsvReply, formatPasvReply, parseEprtArg, parseHostPortNumbers, sameAddress, unmapIPv4, type HostPort,
} from "../../protocol/index.js";
import { DataChannel, DataChannelError } from "../DataChannel.js";
import type { Session } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

async function listenPassive(s: Session): Promise<DataChannel | undefined> {
  try {
    const channel = await DataChannel.passive({
      bindHost: s.localAddress, portRange: s.options.pasvPorts, peerAddress: s.remoteAddress, logger: s.logger,
      acceptTimeoutMs: s.options.limits.dataTimeoutMs,
    });
    s.setDataChannel(channel);
    return channel;
  } catch (err) {
    s.setDataChannel(undefined);
    s.reply(425, `Cannot open passive connection: ${err instanceof DataChannelError ? err.message : (err as Error).message}`);
    return undefined;
  }
}

async function pasv(s: Session): Promise<void> {
  if (s.epsvAll) return s.reply(503, "PASV not allowed after EPSV ALL (RFC 2428 section 4)");
  const advertised = s.options.pasvAddress ?? unmapIPv4(s.localAddress);
  if (isIP(advertised) !== 4) return s.reply(425, "PASV needs an IPv4 control connection: use EPSV");
  const channel = await listenPassive(s);
  if (channel) s.reply(227, formatPasvReply({ host: advertised, port: channel.port }));
}

async function epsv(s: Session, arg: string): Promise<void> {
  const family = isIP(unmapIPv4(s.localAddress));
  const a = arg.trim().toUpperCase();
  if (a === "ALL") {
    s.epsvAll = true;
    return s.reply(200, "EPSV ALL ok: only EPSV from now on");
  }
  if (a !== "" && a !== String(family === 4 ? 1 : 2)) {
    // RFC 2428 section 3: 522 names the protocols we support on this connection.
    return s.reply(522, `Network protocol not supported, use (${family === 4 ? 1 : 2})`);
  }
  const channel = await listenPassive(s);
  if (channel) s.reply(229, formatEpsvReply(channel.port));
}

/**
 * Active mode to `hp`, only to the client's own address and never to a privileged port:
 * anything else would make this server attack a third party ("FTP bounce", RFC 2577
 * section 3), so it is refused with 504 as that RFC suggests.
 */
function active(s: Session, hp: HostPort): void {
  if (s.epsvAll) return s.reply(503, "PORT/EPRT not allowed after EPSV ALL (RFC 2428 section 4)");
  if (!sameAddress(hp.host, s.remoteAddress)) {
    s.logger.warn({ event: "bounce", requested: hp.host, client: s.remoteAddress }, "refused PORT/EPRT to a foreign address");
    return s.reply(504, "Refusing data connection to an address other than yours (RFC 2577)");
  }
  if (hp.port < 1024) return s.reply(504, "Refusing data connection to a privileged port (RFC 2577)");
  // On a dual-stack listener the local address is "::ffff:a.b.c.d"; dialling an IPv4 peer
  // from it needs the plain IPv4 form.
  const local = isIP(hp.host) === 4 ? unmapIPv4(s.localAddress) : s.localAddress;
  s.setDataChannel(DataChannel.active(hp.host, hp.port, local));
  s.reply(200, "Active data connection prepared");
}

/** Data connection setup and representation: PASV EPSV PORT EPRT TYPE MODE STRU. */
export const DATA_CONNECTION_COMMANDS: readonly CommandSpec[] = [
  command("PASV", "PASV", pasv, { arg: "forbidden" }),
  command("EPSV", "EPSV [1|2|ALL]", epsv, { feat: "EPSV" }),
  command("PORT", "PORT h1,h2,h3,h4,p1,p2", async (s, arg) => active(s, parseHostPortNumbers(arg)), { arg: "required" }),
  command("EPRT", "EPRT |af|address|port|", async (s, arg) => {
    const hp = parseEprtArg(arg.trim());
    active(s, hp);
  }, { arg: "required", feat: "EPRT" }),
  command("TYPE", "TYPE <A|I|L 8>", async (s, arg) => {
    const t = arg.trim().toUpperCase().replace(/\s+/g, " ");
    if (t === "A" || t === "A N") {
      s.type = "A";
      return s.reply(200, "Type set to A (line ends converted)");
    }
    if (t === "I" || t === "L 8") {
      s.type = "I";
      return s.reply(200, "Type set to I (binary)");
    }
    s.reply(504, `TYPE ${t} not supported: use A or I`);
  }, { arg: "required" }),
  command("MODE", "MODE S", async (s, arg) =>
    arg.trim().toUpperCase() === "S" ? s.reply(200, "Mode S ok") : s.reply(504, "Only MODE S (stream) is supported"), { arg: "required" }),
  command("STRU", "STRU F", async (s, arg) =>
    arg.trim().toUpperCase() === "F" ? s.reply(200, "Structure F ok") : s.reply(504, "Only STRU F (file) is supported"), { arg: "required" }),
];
