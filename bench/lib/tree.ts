// The benchmark trees: many small files in folders plus one big file, and a digest of a
// tree (size and SHA-256 of every file) to check a tool's result, so a fast wrong tool
// does not win.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pseudoRandomBytes } from "../../test/helpers/tmp.js";

export interface TreeSpec {
  readonly files: number;
  readonly dirs: number;
  /** Bytes of each small file. */
  readonly fileBytes: number;
  /** Bytes of the big file at the top (big.bin); 0 for none. */
  readonly bigBytes: number;
}

/** Write the tree: dNN/fI.bin, distinct contents, and big.bin of random bytes. */
export async function makeTree(root: string, spec: TreeSpec): Promise<void> {
  await mkdir(root, { recursive: true });
  for (let i = 0; i < spec.files; i++) {
    const dir = join(root, `d${String(i % spec.dirs).padStart(2, "0")}`);
    if (i < spec.dirs) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.bin`), pseudoRandomBytes(spec.fileBytes, i + 1));
  }
  if (spec.bigBytes > 0) {
    const fh = await open(join(root, "big.bin"), "w");
    try {
      for (let left = spec.bigBytes; left > 0; left -= 1 << 20) await fh.write(randomBytes(Math.min(left, 1 << 20)));
    } finally {
      await fh.close();
    }
  }
}

/** relative path → "size sha256" of every regular file under root (folders implied). */
export async function treeDigest(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else {
        const h = createHash("sha256");
        let size = 0;
        for await (const chunk of createReadStream(path)) {
          h.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        out.set(relative(root, path), `${size} ${h.digest("hex")}`);
      }
    }
  };
  await walk(root);
  return out;
}

/** Differences between two digests (missing, extra, different), at most `limit` described; [] when equal. */
export function compareDigests(want: Map<string, string>, got: Map<string, string>, limit = 5): string[] {
  const problems: string[] = [];
  for (const [path, d] of want) {
    const g = got.get(path);
    if (g === undefined) problems.push(`missing ${path}`);
    else if (g !== d) problems.push(`different ${path} (want ${d.slice(0, 20)}…, got ${g.slice(0, 20)}…)`);
  }
  for (const path of got.keys()) if (!want.has(path)) problems.push(`extra ${path}`);
  if (problems.length > limit) return [...problems.slice(0, limit), `… ${problems.length - limit} more`];
  return problems;
}
