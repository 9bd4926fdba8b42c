/** A config file that cannot be used: every problem is listed, each as "path.to.field: message". */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** The file that was loaded. */
  readonly file: string;
  /** One line per problem, each starting with the field's path. */
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(`${file}: invalid config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`, options);
    this.file = file;
    this.problems = problems;
  }
}

/** Format a field path as written in the config: jobs[1].target, server.users[0].name. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out === "" ? "(top level)" : out;
}
