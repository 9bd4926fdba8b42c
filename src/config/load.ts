import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { lookupVariable } from "./credentials.js";
import { ConfigError, formatFieldPath } from "./errors.js";
import { closestKey, knownKeysAt } from "./suggest.js";

const VAR = /\$(\$?)\{([^}]*)\}/g;

/**
 * Replace "${NAME}" in every string of a parsed config with the environment variable NAME
 * ("$${NAME}" stays a literal "${NAME}"). Interpolating after parsing, not in the raw text,
 * means a secret holding quotes or newlines cannot change the document's structure.
 * Unset or malformed variables are collected as problems.
 */
export function interpolateEnv(
  value: unknown, env: NodeJS.ProcessEnv, problems: string[], path: PropertyKey[] = [],
  /** Called for an unset variable; returning false means it is not a problem (the text stays). */
  onUnset?: (path: PropertyKey[], name: string) => boolean,
  /** Collects the fields whose variable is unset or malformed, so the schema's issues there are not reported twice. */
  badPaths?: Set<string>,
): unknown {
  if (typeof value === "string") {
    return value.replace(VAR, (whole, escape: string, name: string) => {
      if (escape) return whole.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        problems.push(`${formatFieldPath(path)}: "\${${name}}" is not a valid variable name (letters, digits, _)`);
        badPaths?.add(formatFieldPath(path));
        return whole;
      }
      let v: string | undefined;
      try {
        v = lookupVariable(env, name);
      } catch (err) {
        problems.push(`${formatFieldPath(path)}: ${(err as Error).message}`);
        return whole;
      }
      if (v === undefined) {
        if (onUnset && !onUnset(path, name)) return whole;
        const where = env.CREDENTIALS_DIRECTORY ? ` and there is no credential file ${env.CREDENTIALS_DIRECTORY}/${name}` : "";
        problems.push(`${formatFieldPath(path)}: environment variable ${name} is not set${where} (export ${name}=… or write the value in the file)`);
        badPaths?.add(formatFieldPath(path));
        return whole;
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, problems, [...path, i], onUnset, badPaths));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, problems, [...path, k], onUnset, badPaths)]));
  }
  return value;
}

/** Parse config text as JSON (by extension .json, or content starting with "{") or YAML. */
export function parseConfigText(file: string, text: string): unknown {
  const ext = extname(file).toLowerCase();
  const looksJson = ext === ".json" || (ext !== ".yaml" && ext !== ".yml" && text.trimStart().startsWith("{"));
  if (looksJson) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`], { cause: err });
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `not valid YAML: ${e.message.split("\n")[0]}`));
  }
  return doc.toJS() as unknown;
}

/**
 * Load a YAML or JSON config file, interpolate ${ENV} variables and validate it with
 * `schema`. Throws ConfigError listing every problem as "path.to.field: message".
 */
export async function loadConfigFile<S extends z.ZodType>(file: string, schema: S, env: NodeJS.ProcessEnv = process.env): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], { cause: err });
  }
  return parseConfig(file, text, schema, env);
}

/** parse + interpolate + validate config text (loadConfigFile without the file read). */
export function parseConfig<S extends z.ZodType>(file: string, text: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const raw = parseConfigText(file, text) ?? {};
  const problems: string[] = [];
  // Unset variables do not stop the check: the schema still runs, so one pass lists every
  // problem. A field whose variable is missing is reported once, for the variable.
  const badPaths = new Set<string>();
  const interpolated = interpolateEnv(raw, env, problems, [], undefined, badPaths);
  const result = schema.safeParse(interpolated);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const where = formatFieldPath(issue.path);
      if (badPaths.has(where)) continue;
      if (issue.code === "unrecognized_keys") {
        const known = knownKeysAt(schema, issue.path, interpolated);
        for (const key of issue.keys) {
          const near = closestKey(key, known);
          problems.push(`${where}: unknown key "${key}"${near ? ` (did you mean "${near}"?)` : known.length > 0 ? ` (known keys: ${known.join(", ")})` : ""}`);
        }
      } else problems.push(`${where}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(file, problems);
  return result.data;
}

/** A config read without its secrets: the data, and the variables that were not set. */
export interface WithoutSecrets<T> {
  readonly data: T;
  /** Names of the unset ${VAR}s, each once, in order of appearance. */
  readonly unset: readonly string[];
}

/**
 * Stand-ins tried, in order, for a field whose ${VAR} is unset, until the schema accepts it: an
 * FTP URL, a web URL, plain text (a password, a secret, a token), then an scrypt-shaped string
 * (a server user's passwordHash; it matches no password).
 */
const STAND_INS = ["ftp://unset.invalid/", "https://unset.invalid/", "unset", "scrypt$16384$8$1$dW5zZXQ$dW5zZXQ"] as const;

/**
 * parseConfig for readers that need the paths but not the secrets (`ferry status` on a box
 * where only the daemon's unit file sets BACKUP_PASSWORD): a field whose ${VAR} is unset gets a
 * stand-in the schema accepts instead of an error. `needed(path)` names the fields that cannot
 * do without their variable (the database path, a job's folders); an unset variable there is
 * still an error, as is every other problem of the file.
 */
export function parseConfigWithoutSecrets<S extends z.ZodType>(
  file: string, text: string, schema: S, env: NodeJS.ProcessEnv, needed: (path: readonly PropertyKey[]) => boolean,
): WithoutSecrets<z.output<S>> {
  const raw = parseConfigText(file, text) ?? {};
  const problems: string[] = [];
  const unsetPaths: PropertyKey[][] = [];
  const unset = new Set<string>();
  const interpolated = interpolateEnv(raw, env, problems, [], (path, name) => {
    unset.add(name);
    unsetPaths.push(path);
    return needed(path);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  const tried = new Map<string, number>();
  for (const path of unsetPaths) setAt(interpolated, path, STAND_INS[0]);
  for (let round = 0; ; round++) {
    const result = schema.safeParse(interpolated);
    if (result.success) return { data: result.data, unset: [...unset] };
    // An issue at (or below) a stand-in: try the next stand-in there; any other issue is real.
    let retry = false;
    for (const issue of result.error.issues) {
      const at = unsetPaths.find((p) => p.every((seg, i) => issue.path[i] === seg));
      if (!at) continue;
      const key = formatFieldPath(at);
      const next = (tried.get(key) ?? 0) + 1;
      if (next >= STAND_INS.length) continue;
      tried.set(key, next);
      setAt(interpolated, at, STAND_INS[next]!);
      retry = true;
    }
    if (!retry || round > STAND_INS.length * unsetPaths.length) {
      throw new ConfigError(file, result.error.issues.map((i) => `${formatFieldPath(i.path)}: ${i.message}`));
    }
  }
}

function setAt(root: unknown, path: readonly PropertyKey[], value: unknown): void {
  let node = root as Record<PropertyKey, unknown>;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<PropertyKey, unknown>;
  node[path[path.length - 1]!] = value;
}
