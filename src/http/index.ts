/** The daemon's HTTP surface: JSON API, Prometheus /metrics, /healthz, /readyz, the event stream and the dashboard. */
export { startHttpServer, buildHttpApp, BODY_LIMIT, type HttpOptions, type HttpServer } from "./server.js";
export { apiStatus } from "./api.js";
export { createMetrics } from "./metrics.js";
export { hasToken, needsToken } from "./auth.js";
