import type { Command } from "commander";
import { hashPassword } from "../../server/index.js";
import { UsageError } from "../exitCodes.js";

/** Read a password from a TTY without echo (raw mode), until Enter. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new UsageError("cancelled"));
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** Read all of piped stdin; one trailing line end is dropped (echo "pw" | ferry hash-password). */
async function readPiped(): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk as string;
  return text.replace(/\r?\n$/, "");
}

/** Register `ferry hash-password`: password on stdin, scrypt hash on stdout. */
export function registerHashPassword(program: Command): void {
  program.command("hash-password")
    .description("read a password from stdin (hidden on a terminal) and print its scrypt hash for server.users[].passwordHash")
    .action(async () => {
      let password: string;
      if (process.stdin.isTTY) {
        password = await readHidden("Password: ");
        if ((await readHidden("Again: ")) !== password) throw new UsageError("the passwords differ: run ferry hash-password again");
      } else {
        password = await readPiped();
      }
      if (password === "") throw new UsageError("empty password: type one, or pipe it in (printf %s PASS | ferry hash-password)");
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
}
