import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ferryArgv, runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const exec = promisify(execFile);
/** A shell function `ferry` that runs this checkout's CLI, so `ferry completion bash` works as documented. */
const ferryFunction = `ferry() { ${ferryArgv().map((a) => `'${a}'`).join(" ")} "$@"; }`;

/** What bash's completion function (loaded from `file`) offers for the words typed so far (the last one being completed). */
async function bashCompleteIn(file: string, words: string[]): Promise<string[]> {
  const script = `source ${file}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_ferry; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await exec("bash", ["-c", script], { timeout: 30_000 });
  return stdout.split("\n").filter(Boolean);
}

test("bash completion loads (source <(ferry completion bash)) and completes subcommands, options and choices", async (t) => {
  const { stdout } = await exec("bash", ["-c", `${ferryFunction}\nsource <(ferry completion bash); complete -p ferry`], { timeout: 30_000 });
  assert.equal(stdout.trim(), "complete -o default -F _ferry ferry");
  const tmp = await tempDir();
  t.after(() => tmp.remove());
  const file = join(tmp.path, "ferry.bash");
  await writeFile(file, (await runFerry(["completion", "bash"])).stdout);
  const bashComplete = (words: string[]) => bashCompleteIn(file, words);
  assert.deepEqual(await bashComplete(["ferry", "ge"]), ["get"]);
  assert.deepEqual(await bashComplete(["ferry", "-v", "mi"]), ["mirror"]);
  assert.deepEqual(await bashComplete(["ferry", "get", "--no"]), ["--no-clobber"]);
  assert.deepEqual(await bashComplete(["ferry", "mirror", "ftp://h/x", "--dr"]), ["--dry-run"]);
  assert.deepEqual(await bashComplete(["ferry", "put", "--verb"]), ["--verbose"], "global options after the subcommand");
  assert.deepEqual(await bashComplete(["ferry", "completion", "z"]), ["zsh"]);
  assert.deepEqual(await bashComplete(["ferry", "status", "--config", ""]), [], "a value: left to file-name completion (-o default)");
});

test("zsh and fish completion scripts parse and register; the man page renders without warnings", async (t) => {
  const tmp = await tempDir();
  t.after(() => tmp.remove());
  const have = async (cmd: string) => exec("sh", ["-c", `command -v ${cmd}`]).then(() => true, () => false);
  for (const shell of ["zsh", "fish"] as const) {
    const r = await runFerry(["completion", shell]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, shell === "zsh" ? /'get:download one file'/ : /complete -c ferry -n __fish_use_subcommand -a get -d 'download one file'/);
    assert.match(r.stdout, shell === "zsh" ? /--no-clobber\[leave an existing LOCAL alone and skip the download\]/ : /-l no-clobber -d /);
    if (!(await have(shell))) {
      if (process.env.CI === "true") assert.fail(`${shell} is not installed (the CI image installs it)`);
      continue;
    }
    const file = join(tmp.path, `ferry.${shell}`);
    await writeFile(file, r.stdout);
    await exec(shell, ["-n", file]);
    if (shell === "fish") {
      const { stdout } = await exec("fish", ["-c", `source ${file}; complete -C 'ferry get --no'; complete -C 'ferry ge'`]);
      assert.match(stdout, /^--no-clobber\t/m);
      assert.match(stdout, /^get\tdownload one file$/m);
    } else {
      const { stdout } = await exec("zsh", ["-c", `autoload -U compinit; compinit -u -d ${join(tmp.path, "zcompdump")}; source ${file}; print -r -- $_comps[ferry]`]);
      assert.equal(stdout.trim(), "_ferry");
    }
  }

  const man = await runFerry(["man"]);
  assert.equal(man.code, 0, man.stderr);
  assert.match(man.stdout, /^\.TH FERRY 1 /);
  for (const section of ["NAME", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "ENVIRONMENT", "EXIT STATUS"]) assert.match(man.stdout, new RegExp(`^\\.SH ${section}$`, "m"));
  assert.match(man.stdout, /^\\fB\\-\\-no\\-clobber\\fR$/m, "options come from the same definitions as --help");
  const page = join(tmp.path, "ferry.1");
  await writeFile(page, man.stdout);
  const rendered = await exec("groff", ["-man", "-Tutf8", "-ww", page]).catch((err: unknown) => err as { stdout: string; stderr: string });
  assert.equal(rendered.stderr, "", "groff has no warnings");
  assert.match(rendered.stdout, /download\s+one\s+file/);
});
