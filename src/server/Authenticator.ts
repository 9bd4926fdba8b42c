import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** What a user may do. Read-only principals hold only "read" and "list". */
export type Perm = "read" | "list" | "create" | "append" | "delete" | "rename" | "mkdir" | "rmdir" | "chmod" | "mtime";

/** A logged-in user: who, where their root is, and whether they may write. */
export interface Principal {
  readonly name: string;
  /** Local directory the user is confined to. */
  readonly root: string;
  readonly readOnly: boolean;
  readonly anonymous: boolean;
  /** Transfers and listings need PROT P for this user (per-user force_local_data_ssl); default false. */
  readonly requireTlsData?: boolean;
}

/** A configured user: a password hash from `ferry hash-password`, or a plain password (CLI --user). */
export interface UserSpec {
  readonly name: string;
  readonly passwordHash?: string;
  readonly password?: string;
  /** Default: the server root. */
  readonly root?: string;
  /** Default false. */
  readonly readOnly?: boolean;
  /** Refuse this user's login on a connection without TLS (needs the server's TLS); default false. */
  readonly requireTlsLogin?: boolean;
  /** Refuse this user's transfers under PROT C (needs the server's TLS); default false. */
  readonly requireTlsData?: boolean;
}

/** Options of the Authenticator. */
export interface AuthenticatorOptions {
  readonly users: readonly UserSpec[];
  /** Root for users without their own and for anonymous users. */
  readonly root: string;
  /** Anonymous login ("anonymous"/"ftp", any password): off by default; "ro" unless "rw" is asked for. */
  readonly anonymous?: false | "ro" | "rw";
}

/** A failed login; the message is safe to log (it never holds the password). */
export class AuthenticationFailed extends Error {
  override readonly name = "AuthenticationFailed";
}

/** A hash string that is not of the form scrypt$N$r$p$salt$hash. */
export class PasswordHashError extends Error {
  override readonly name = "PasswordHashError";
}

// scrypt cost: N=2^14, r=8 (16 MiB, ~50 ms) is the interactive-login figure from the scrypt
// paper and Node's default; parameters travel in the string so they can be raised later.
const DEFAULT_COST = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const READ_PERMS: ReadonlySet<Perm> = new Set<Perm>(["read", "list"]);
const ANONYMOUS_NAMES = new Set(["anonymous", "ftp"]);

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { ...opts, maxmem: 256 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hash a password as "scrypt$N$r$p$<salt base64>$<hash base64>" (self-describing). */
export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, cost);
  return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64"), key.toString("base64")].join("$");
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Parse and check a hash string; throws PasswordHashError naming what is wrong. */
export function parsePasswordHash(text: string): ParsedHash {
  const parts = text.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    throw new PasswordHashError("a password hash must look like scrypt$N$r$p$salt$hash: create one with `ferry hash-password`");
  }
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((v) => Number.isInteger(v) && v > 0) || (N & (N - 1)) !== 0 || N < 2) {
    throw new PasswordHashError("scrypt parameters N, r, p must be positive integers, N a power of two");
  }
  const salt = Buffer.from(parts[4] ?? "", "base64");
  const key = Buffer.from(parts[5] ?? "", "base64");
  if (salt.length < 8 || key.length < 16) throw new PasswordHashError("scrypt salt or hash too short: create one with `ferry hash-password`");
  return { N, r, p, salt, key };
}

/** True when `password` matches `hash`; the comparison takes the same time wherever they differ. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parsePasswordHash(hash);
  const key = await scryptAsync(password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p });
  return timingSafeEqual(key, h.key);
}

/**
 * How a user's password is checked: an scrypt hash (config `passwordHash`), or a keyed digest
 * of a plain password (`--user NAME:PASS`, config `password`). A plain password already sits in
 * this process in clear (its arguments, its config), so a memory-hard hash of it protects
 * nothing, and each scrypt costs 16 MiB and ~50 ms of CPU per login; after the first, glibc
 * raises its mmap threshold and keeps later buffers in the heap, which cost ferry serve 15 MiB
 * idle and ~30 MiB during transfers (measured). The digest is keyed with a random per-process
 * key, so it is worthless outside this process.
 */
type Secret = { readonly kind: "scrypt"; readonly hash: string } | { readonly kind: "plain"; readonly digest: Buffer };

const PLAIN_KEY = randomBytes(32);

function plainDigest(password: string): Buffer {
  return createHmac("sha256", PLAIN_KEY).update(password, "utf8").digest();
}

/** True when `password` matches `secret`, in time independent of where they differ. */
async function matches(secret: Secret, password: string): Promise<boolean> {
  if (secret.kind === "scrypt") return verifyPassword(password, secret.hash);
  return timingSafeEqual(plainDigest(password), secret.digest);
}

interface StoredUser {
  readonly principal: Principal;
  readonly secret: Secret;
  readonly requireTlsLogin: boolean;
}

/** Users and their passwords (pyftpdlib's authorizer, narrowed): verify() and can(). */
export class Authenticator {
  // parameters
  readonly #anonymous: false | "ro" | "rw";
  readonly #root: string;
  // internal state
  readonly #users = new Map<string, StoredUser>();
  #dummySecret: Secret = { kind: "plain", digest: plainDigest("") };

  private constructor(options: AuthenticatorOptions) {
    this.#anonymous = options.anonymous ?? false;
    this.#root = options.root;
  }

  /** Build an Authenticator; plain passwords (from --user) are kept only as keyed digests. */
  static async create(options: AuthenticatorOptions): Promise<Authenticator> {
    const auth = new Authenticator(options);
    for (const u of options.users) {
      if (auth.#users.has(u.name)) throw new PasswordHashError(`user "${u.name}" is defined twice`);
      let secret: Secret;
      if (u.passwordHash !== undefined) {
        parsePasswordHash(u.passwordHash);
        secret = { kind: "scrypt", hash: u.passwordHash };
      } else if (u.password !== undefined) {
        secret = { kind: "plain", digest: plainDigest(u.password) };
      } else {
        throw new PasswordHashError(`user "${u.name}" has neither passwordHash nor password`);
      }
      const principal = {
        name: u.name, root: u.root ?? options.root, readOnly: u.readOnly ?? false, anonymous: false, requireTlsData: u.requireTlsData ?? false,
      };
      auth.#users.set(u.name, { principal, secret, requireTlsLogin: u.requireTlsLogin ?? false });
    }
    // Unknown users are checked against a dummy secret so a failure takes as long as a wrong
    // password: an scrypt one when any user has a hash (the slow case to imitate).
    if ([...auth.#users.values()].some((u) => u.secret.kind === "scrypt")) {
      auth.#dummySecret = { kind: "scrypt", hash: await hashPassword(randomBytes(8).toString("hex")) };
    }
    return auth;
  }

  /** True when `name` is a user who must log in over TLS. */
  requiresTlsLogin(name: string): boolean {
    return this.#users.get(name)?.requireTlsLogin ?? false;
  }

  /** Names of users with a TLS rule (requireTlsLogin or requireTlsData); the server refuses to start them without TLS. */
  get usersRequiringTls(): string[] {
    return [...this.#users.values()].filter((u) => u.requireTlsLogin || u.principal.requireTlsData).map((u) => u.principal.name);
  }

  /** True when anonymous logins are accepted. */
  get allowsAnonymous(): boolean {
    return this.#anonymous !== false;
  }

  /** Check a user name and password; throws AuthenticationFailed. */
  async verify(name: string, password: string): Promise<Principal> {
    const user = this.#users.get(name);
    if (!user && ANONYMOUS_NAMES.has(name.toLowerCase()) && this.#anonymous !== false) {
      return { name: "anonymous", root: this.#root, readOnly: this.#anonymous !== "rw", anonymous: true };
    }
    const ok = await matches(user?.secret ?? this.#dummySecret, password);
    if (!user || !ok) throw new AuthenticationFailed(`login incorrect for user ${JSON.stringify(name.slice(0, 64))}`);
    return user.principal;
  }

  /** True when `principal` may do `perm`. */
  can(principal: Principal, perm: Perm): boolean {
    return !principal.readOnly || READ_PERMS.has(perm);
  }
}
