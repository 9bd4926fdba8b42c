/** The sync engine: scan → march → compare → plan → execute → publish, with per-mirror state. */
export * from "./tree.js";
export * from "./filter.js";
export * from "./march.js";
export * from "./compare.js";
export * from "./plan.js";
export * from "./state.js";
export * from "./bwlimit.js";
export * from "./bwschedule.js";
export * from "./retry.js";
export * from "./remote.js";
export * from "./verify.js";
export * from "./transfer.js";
export * from "./partIdentity.js";
export * from "./batch.js";
export * from "./execute.js";
export * from "./mirror.js";
export * from "./localErrors.js";
