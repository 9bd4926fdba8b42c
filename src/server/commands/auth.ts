import { setTimeout as sleep } from "node:timers/promises";
import { AuthenticationFailed } from "../Authenticator.js";
import { command, type CommandSpec } from "./types.js";

/** Login and logout: USER PASS ACCT REIN QUIT. */
export const AUTH_COMMANDS: readonly CommandSpec[] = [
  command("USER", "USER <name>", async (s, name) => {
    s.logout();
    if (!s.isSecure && s.options.tls && (s.options.tls.requireLogin || s.options.authenticator.requiresTlsLogin(name))) {
      // Refuse before the password is sent in clear (RFC 4217 section 15: 530 to USER).
      // A per-user rule answers here too, so it tells a prober that this name needs TLS;
      // the global rule (requireLogin) reveals nothing.
      s.logger.warn({ event: "login", user: name, ok: false, reason: "tls required" }, "plain login refused: TLS required");
      return s.reply(530, "TLS required for login on this server: send AUTH TLS first (or use ftpes:// / ftps://)");
    }
    s.pendingUser = name;
    // Always 331, whether or not the user exists, so USER cannot be used to probe for
    // account names (RFC 2577 section 5).
    s.reply(331, name.toLowerCase() === "anonymous" || name.toLowerCase() === "ftp"
      ? "Anonymous login: send your e-mail address as password"
      : `Password required for ${name}`);
  }, { auth: false, arg: "required" }),

  command("PASS", "PASS <password>", async (s, password) => {
    const name = s.pendingUser;
    if (name === undefined) return s.reply(503, "Send USER first");
    s.pendingUser = undefined;
    const { limits } = s.options;
    const started = Date.now();
    try {
      const principal = await s.options.authenticator.verify(name, password);
      await s.login(principal);
      s.logger.info({ event: "login", user: principal.name, ok: true, readOnly: principal.readOnly }, "login ok");
      s.reply(230, `User ${principal.name} logged in${principal.readOnly ? " (read-only)" : ""}`);
    } catch (err) {
      if (!(err instanceof AuthenticationFailed)) {
        s.logger.error({ event: "login", user: name, ok: false, err: (err as Error).message }, "login failed: cannot open user's root");
        return s.reply(530, "Login incorrect");
      }
      s.loginFailures++;
      s.logger.warn({ event: "login", user: name, ok: false, failures: s.loginFailures }, "login failed");
      // A delay after each failure and a disconnect after several slow down password
      // guessing (RFC 2577 section 5). The delay counts from the PASS, so the reply comes at
      // the same moment whether the check took a slow hash (a known user) or a fast one
      // (A14: no timing difference between known and unknown users, mod_delay's intent).
      await sleep(Math.max(0, limits.loginFailureDelayMs - (Date.now() - started)));
      if (s.loginFailures >= limits.maxLoginFailures) {
        return s.replyAndClose(421, `Too many failed logins (${s.loginFailures}), closing connection`);
      }
      s.reply(530, "Login incorrect");
    }
  }, { auth: false }),

  command("ACCT", "ACCT <account>", async (s) => s.reply(502, "ACCT not implemented: no accounts on this server"), { auth: false }),
  command("REIN", "REIN", async (s) => s.reply(502, "REIN not implemented: reconnect to log in again"), { auth: false }),

  command("QUIT", "QUIT", async (s) => {
    // RFC 959 section 4.1.1: a running transfer finishes, then the server replies and closes.
    await s.transferDone();
    s.replyAndClose(221, "Goodbye");
  }, { auth: false, duringTransfer: true }),
];
