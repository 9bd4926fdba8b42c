/** The FTP wire format shared by ferry's client and server. Pure functions, no I/O. */
export * from "./errors.js";
export * from "./reply.js";
export * from "./command.js";
export * from "./address.js";
export * from "./time.js";
export * from "./hash.js";
export * from "./remotePath.js";
export * from "./listFormat.js";
export * from "./listing/index.js";
