/** Hooks and notifications: commands, webhooks and healthchecks pings, stored in the queue until delivered. */
export { HookDispatcher, type HookDispatcherOptions, type HookDispatcherEventMap } from "./HookDispatcher.js";
export type { HookDelivery, HookSummary } from "../../queue/Queue.js";
export { HookEvents, jobInfoLookup, type HookJobInfo, type TransferredFile } from "./events.js";
export { resolveHooks, type ResolvedHook, type HookAction } from "./resolve.js";
export { deliver, signBody, urlOrigin, HookDeliveryError, SIGNATURE_HEADER } from "./deliver.js";
export { factsToEnv, factsToBody, type HookFacts } from "./facts.js";
