import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError, formatFieldPath } from "./errors.js";
import { closestKey, knownKeysAt } from "./suggest.js";

const VAR = /\$(\$?)\{([^}]*)\}/g;

/**
 * Replace "${NAME}" in every string of a parsed config with the environment variable NAME
 * ("$${NAME}" stays a literal "${NAME}"). Interpolating after parsing, not in the raw text,
 * means a secret holding quotes or newlines cannot change the document's structure.
 * Unset or malformed variables are collected as problems.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, problems: string[], path: PropertyKey[] = [], badPaths?: Set<string>): unknown {
  if (typeof value === "string") {
    return value.replace(VAR, (whole, escape: string, name: string) => {
      if (escape) return whole.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        problems.push(`${formatFieldPath(path)}: "\${${name}}" is not a valid variable name (letters, digits, _)`);
        badPaths?.add(formatFieldPath(path));
        return whole;
      }
      const v = env[name];
      if (v === undefined) {
        problems.push(`${formatFieldPath(path)}: environment variable ${name} is not set (export ${name}=… or write the value in the file)`);
        badPaths?.add(formatFieldPath(path));
        return whole;
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, problems, [...path, i], badPaths));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, problems, [...path, k], badPaths)]));
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
  const interpolated = interpolateEnv(raw, env, problems, [], badPaths);
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
