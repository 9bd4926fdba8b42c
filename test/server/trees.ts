import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pseudoRandomBytes } from "../helpers/tmp.js";

/** A directory tree as {relative path: "dir" | sha256 of contents}, sorted, for deepEqual. */
export async function treeOf(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[r] = "dir";
        await walk(r);
      } else {
        out[r] = createHash("sha256").update(await readFile(join(root, r))).digest("hex");
      }
    }
  }
  await walk("");
  return out;
}

/** Write a small sample tree: nested dirs, an empty file, a binary file, a name with spaces and UTF-8. */
export async function writeSampleTree(root: string, seed = 7): Promise<void> {
  const files: Record<string, Buffer> = {
    "a.txt": Buffer.from("hello\nworld\n"),
    "empty.bin": Buffer.alloc(0),
    "bin/data.bin": pseudoRandomBytes(300_000, seed),
    "bin/deeper/more.bin": pseudoRandomBytes(70_001, seed + 1),
    "with space/über ☃.txt": Buffer.from("unicode name\n"),
  };
  for (const [rel, data] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), data);
  }
  await mkdir(join(root, "emptydir"), { recursive: true });
}
