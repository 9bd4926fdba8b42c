// Docker HEALTHCHECK of `ferry serve`: healthy when the FTP port answers with its 220 greeting
// within 5 s. Plain JavaScript beside the image's dist/ (no build step, no dependency).
// FERRY_HEALTHCHECK_PORT (default 2121) and FERRY_HEALTHCHECK_HOST (default 127.0.0.1) name the port.
import { connect } from "node:net";

const host = process.env.FERRY_HEALTHCHECK_HOST || "127.0.0.1";
const port = Number(process.env.FERRY_HEALTHCHECK_PORT || 2121);
const fail = (why) => {
  process.stderr.write(`unhealthy: ftp://${host}:${port}/ ${why}\n`);
  process.exit(1);
};
const socket = connect({ host, port });
socket.setTimeout(5000, () => fail("sent no greeting within 5 s"));
socket.on("error", (err) => fail(`cannot be reached: ${err.code ?? err.message}`));
let text = "";
socket.setEncoding("utf8").on("data", (chunk) => {
  text += chunk;
  const line = text.split("\r\n")[0];
  if (!text.includes("\r\n")) return;
  if (!/^220[ -]/.test(line)) fail(`greeted with ${JSON.stringify(line.slice(0, 100))} instead of 220`);
  socket.end("QUIT\r\n");
  process.stdout.write(`healthy: ${line.slice(0, 100)}\n`);
  process.exit(0);
});
