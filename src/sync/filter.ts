import picomatch from "picomatch";

/** Decides which paths take part in a sync. */
export interface PathFilter {
  /** True when the entry at `path` (relative, "/"-separated) is in. */
  accepts(path: string, type: "file" | "dir"): boolean;
}

/** Options of createFilter; both lists default to empty. */
export interface FilterOptions {
  /** Globs of files to take; when any are given, other files are left out (folders are still walked). */
  include?: readonly string[];
  /** Globs of files and folders to leave out; an excluded folder is not walked at all. */
  exclude?: readonly string[];
}

/**
 * Build a filter from --include/--exclude globs (picomatch syntax). A glob without "/"
 * matches the name at any depth ("*.tmp"), one with "/" matches the whole relative path
 * ("logs/**"). Excludes win over includes. Dotfiles are matched like any other name.
 */
export function createFilter(options: FilterOptions = {}): PathFilter {
  const include = options.include ?? [];
  const exclude = options.exclude ?? [];
  for (const g of [...include, ...exclude]) {
    if (g.trim() === "") throw new Error("empty glob in --include/--exclude: give a pattern such as \"*.log\"");
  }
  const isIncluded = include.length > 0 ? compileGlobs(include) : () => true;
  const isExcluded = exclude.length > 0 ? compileGlobs(exclude) : () => false;
  return {
    accepts(path, type) {
      if (isExcluded(path)) return false;
      // Includes select files; folders are always walked so "*.txt" finds nested files.
      return type === "dir" || isIncluded(path);
    },
  };
}

/** One matcher for a glob list: globs without "/" test the name, the others the whole path. */
function compileGlobs(globs: readonly string[]): (path: string) => boolean {
  const opts = { dot: true } as const;
  const byName = globs.filter((g) => !g.includes("/"));
  const byPath = globs.filter((g) => g.includes("/")).map((g) => g.replace(/^\/+/, ""));
  const name = byName.length > 0 ? picomatch(byName, opts) : () => false;
  const path = byPath.length > 0 ? picomatch(byPath, opts) : () => false;
  return (p) => name(p.slice(p.lastIndexOf("/") + 1)) || path(p);
}
