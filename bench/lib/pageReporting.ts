import { readFileSync, writeFileSync } from "node:fs";

// Free page reporting (virtio-balloon) returns memory the guest frees to the host; touching
// it again costs a host fault per page. On the CI-sized VM it runs with min_free_ms 0: a
// deleted 1 GiB file is handed back within ~2 s, and the next GiB written to tmpfs then took
// 0.4-2.7 s (dd, 1 MiB blocks) instead of a steady 0.4-0.5 s. Which tool met returned pages
// depended on timing, e.g. on how long its process took to start, and that swung
// throughput ratios by 30 % and more. Benches hold reporting back while they run.
const PARAMS = "/sys/module/page_reporting/parameters";
/** The longest delay this kernel accepted (600,000 was refused). */
const HOLD_MS = "300000";
/** Far above any bench's garbage, so the waiting total never forces a report. */
const HOLD_MIB = "1048576";

/**
 * Hold free page reporting back for the rest of this process (root, and a kernel with the
 * min_free_ms and max_waiting_mib knobs; HOLD_PAGE_REPORTING=0 leaves it alone). The old
 * values come back when the process exits. Returns a line for the report, or "" when
 * nothing was changed.
 */
export function holdPageReporting(): string {
  if (process.env.HOLD_PAGE_REPORTING === "0") return "free page reporting left as the VM has it (HOLD_PAGE_REPORTING=0)";
  const saved: Array<[string, string]> = [];
  try {
    for (const [name, value] of [["min_free_ms", HOLD_MS], ["max_waiting_mib", HOLD_MIB]] as const) {
      const path = `${PARAMS}/${name}`;
      const old = readFileSync(path, "utf8").trim();
      writeFileSync(path, value);
      saved.push([path, old]);
    }
  } catch {
    restore(saved);
    return "";
  }
  process.once("exit", () => restore(saved));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      restore(saved);
      process.exit(130);
    });
  }
  return `free page reporting held back during the run (min_free_ms ${HOLD_MS}, max_waiting_mib ${HOLD_MIB}; HOLD_PAGE_REPORTING=0 to measure without)`;
}

function restore(saved: Array<[string, string]>): void {
  for (const [path, old] of saved.reverse()) {
    try {
      writeFileSync(path, old);
    } catch {
      // best effort: the process is exiting
    }
  }
}
