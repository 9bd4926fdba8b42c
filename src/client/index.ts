/** ferry's FTP client engine: FtpClient on one control connection, ClientPool for concurrency. */
export { FtpClient } from "./FtpClient.js";
export type { ConnectOptions, EntryType, ListOptions, RemoteEntry, TransferOptions } from "./FtpClient.js";
export type { Capabilities } from "./features.js";
export { parseFeatures } from "./features.js";
export {
  FtpConnectionError, FtpLoginError, FtpTimeoutError, FtpUnreachableError, FtpUsageError,
  isConnectionFatal, isConnectionLost, isLoginRefused, isNotFound, isNotUnderstood, isRetriable, isUnreachable,
} from "./errors.js";
export { ClientPool } from "./ClientPool.js";
export { connectionLimitReply, isConnectionLimit, saysTooManyConnections } from "./connectionLimit.js";
export type { ClientPoolOptions } from "./ClientPool.js";
export { parseFtpUrl, redactUrl, FtpUrlError } from "./url.js";
export type { FtpUrl } from "./url.js";
export { choosePassiveHost } from "./dataChannel.js";
export { FtpReplyError, ProtocolError } from "../protocol/index.js";
export type { HashAlgorithm } from "../protocol/index.js";
