/** Config loading: YAML/JSON, ${ENV} interpolation, zod validation with readable errors. */
export { ConfigError, formatFieldPath } from "./errors.js";
export { loadConfigFile, parseConfig, parseConfigText, interpolateEnv } from "./load.js";
export {
  serverSchema, serverUserSchema, serverLimitsSchema, serveFileSchema, parseListen, parsePortRange, type ServerConfig,
} from "./serverSchema.js";
export { daemonConfigSchema, remoteSchema, mirrorJobSchema, uploadJobSchema, jobSchema, retrySchema, afterSchema, parseDuration, parseJobSide, type DaemonConfig, type JobConfig, type MirrorJobConfig, type UploadJobConfig, type RemoteConfig, type JobSide } from "./daemonSchema.js";
export { HOOK_EVENTS, hookSchema, webhookSchema, healthcheckSchema, type HookEventName, type HookConfig, type HealthcheckConfig } from "./hooksSchema.js";
export { parseConfigWithoutSecrets, type WithoutSecrets } from "./load.js";
export { httpSchema, isLoopbackHost, DEFAULT_HTTP_LISTEN, MIN_TOKEN_LENGTH, type HttpConfig } from "./httpSchema.js";
