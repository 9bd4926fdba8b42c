import { createRequire } from "node:module";

/**
 * The HTTP surface's CommonJS dependencies, loaded with require() rather than `import`. Node
 * reads every CommonJS module that an ES module imports with its export lexer
 * (cjs-module-lexer) to find the named exports; fastify made that lexer hot enough for V8 to
 * optimise it, twice at once on background threads, and glibc kept those threads' compile
 * memory for the life of the daemon (bench/README.md, "the HTTP surface"). require() skips the
 * lexer; the types stay those of the packages.
 */
const require = createRequire(import.meta.url);

/** fastify's factory. */
export const fastify = (require("fastify") as typeof import("fastify")).fastify;

/** prom-client. */
export const promClient = require("prom-client") as typeof import("prom-client");
