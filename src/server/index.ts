/** ferry's embedded FTP server (`ferry serve`). */
export { FtpServer, type FtpServerOptions } from "./FtpServer.js";
export {
  Authenticator, AuthenticationFailed, PasswordHashError, hashPassword, verifyPassword, parsePasswordHash,
  type AuthenticatorOptions, type Perm, type Principal, type UserSpec,
} from "./Authenticator.js";
export { FileSystem, PathError, badPathReason, type RealPath, type VirtualPath } from "./FileSystem.js";
export { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
export { COMMANDS, type CommandSpec } from "./commands/table.js";
export { crc32, crc32Table } from "./crc32.js";
export { type ServerTlsOptions } from "./tls.js";
export { generateSelfSignedCert, type GeneratedCert } from "./selfSigned.js";
export { DigestCache, fileState } from "./digestCache.js";
export { FolderSync, syncFolder, type SyncFolder } from "./folderSync.js";
