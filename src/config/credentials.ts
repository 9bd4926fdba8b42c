import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The value of "${NAME}" in a config: the environment variable NAME, or, when it is unset and
 * CREDENTIALS_DIRECTORY is set, the content of the file CREDENTIALS_DIRECTORY/NAME. That
 * folder is where systemd puts the files of LoadCredential=/SetCredential= (readable only by
 * the service, never in the environment or `systemctl show`), and where Docker mounts secrets
 * (/run/secrets) when CREDENTIALS_DIRECTORY points there. One trailing newline is dropped, as
 * `echo secret > file` leaves one. Undefined when neither holds it.
 */
export function lookupVariable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const fromEnv = env[name];
  if (fromEnv !== undefined) return fromEnv;
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return undefined;
  let text: string;
  try {
    text = readFileSync(join(dir, name), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read the credential ${join(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return text.replace(/\r?\n$/, "");
}
