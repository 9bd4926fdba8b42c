import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { pseudoRandomBytes } from "../helpers/tmp.js";

/** Write a tree: keys ending in "/" are folders, others files with the given content. */
export async function writeTree(root: string, spec: Record<string, string | Buffer>): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [path, content] of Object.entries(spec)) {
    const full = join(root, ...path.split("/").filter(Boolean));
    if (path.endsWith("/")) await mkdir(full, { recursive: true });
    else {
      await mkdir(join(full, ".."), { recursive: true });
      await writeFile(full, content);
    }
  }
}

/** A tree as path → "dir" | sha256 of the content, for whole-tree comparisons. */
export async function readTree(root: string, options: { withParts?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (!options.withParts && name.endsWith(".ferry-part")) continue;
      const full = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(full);
      if (st.isDirectory()) { out[`${path}/`] = "dir"; await walk(full, path); }
      else out[path] = createHash("sha256").update(await readFile(full)).digest("hex").slice(0, 16);
    }
  };
  await walk(root, "");
  return out;
}

/** The standard test tree: nested and empty folders, an empty file, spaces and UTF-8, a large file, many small ones. */
export function sampleTree(options: { bigBytes?: number; smallFiles?: number } = {}): Record<string, string | Buffer> {
  const spec: Record<string, string | Buffer> = {
    "top.txt": "top level\n",
    "empty.bin": "",
    "empty folder/": "",
    "nested/deeper/deepest/leaf.txt": "leaf\n",
    "nested/deeper/empty/": "",
    "with space/file name with spaces.txt": "spaces\n",
    "ünïcödé/日本語.txt": "utf-8 ✓\n",
    "ünïcödé/café.md": "# café\n",
    "big/blob.bin": pseudoRandomBytes(options.bigBytes ?? 3 * 1024 * 1024, 7),
  };
  for (let i = 0; i < (options.smallFiles ?? 300); i++) spec[`many/d${i % 10}/f${i}.txt`] = `small file ${i}\n`.repeat(i % 7);
  return spec;
}
