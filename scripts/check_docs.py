#!/usr/bin/env python3
"""Run the quick commands the docs quote and compare the numbers they print with the numbers
the docs quote (tests/meson.build runs it as the suite 'docs').

    scripts/check_docs.py BUILD_DIR [--torch] [FILE.md ...]     (default: README.md, docs/*.md)

Two forms are checked:

  * a fenced block whose first line is `$ COMMAND`: the command runs from the repository's root
    and what it prints must be the rest of the block, line for line;
  * a ```sh block with a command line ending in `# perplexity: X` (or `# <what>: X` for any
    word): the block's commands run in order in a scratch folder, and that command must print a
    line `<what>: X`. Commands run through /usr/bin/python3 (PyTorch) run only with --torch
    (each takes seconds to import torch); without it they are skipped, and so is every later
    command that reads a file they would have written.

`weft` in a command is the build's weft, `build/` the build folder. Exits 1 naming every number
that differs, with the command and both numbers."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(text):
    """(fence info, first line number, lines) of every fenced block."""
    out, cur, info, start = [], None, "", 0
    for i, line in enumerate(text.split("\n"), 1):
        if line.startswith("```"):
            if cur is None:
                cur, info, start = [], line[3:].strip(), i + 1
            else:
                out.append((info, start, cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


def commands(lines):
    """Commands with their line numbers, backslash continuations joined."""
    out, buf, first = [], "", 0
    for i, line in enumerate(lines):
        if not buf:
            first = i
        buf += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            if buf.strip() and not buf.strip().startswith("#"):
                out.append((first, buf))
            buf = ""
    return out


def run(cmd, cwd, build):
    env = dict(os.environ, PATH=os.path.join(build, "src", "cli") + os.pathsep + os.environ["PATH"])
    env.pop("LD_LIBRARY_PATH", None)
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout + p.stderr


def main():
    args = sys.argv[1:]
    torch = "--torch" in args
    args = [a for a in args if a != "--torch"]
    if not args:
        sys.exit(__doc__)
    build = os.path.abspath(args[0])
    files = args[1:] or [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "*.md")))
    failures, checked = [], 0
    for path in files:
        rel = os.path.relpath(path, ROOT)
        for info, start, lines in blocks(open(path, encoding="utf-8").read()):
            # form 1: "$ command" then its output
            if lines and lines[0].startswith("$ ") and info == "":
                cmd = lines[0][2:].replace("build/", build + "/")
                want = [l for l in lines[1:]]
                while want and not want[-1].strip():
                    want.pop()
                rc, got = run(cmd, ROOT, build)
                got_lines = got.rstrip("\n").split("\n")
                checked += 1
                if rc != 0 or got_lines != want:
                    failures.append(f"{rel}:{start}: `{lines[0][2:]}` printed\n    "
                                    + "\n    ".join(got_lines) + "\n  the doc says\n    "
                                    + "\n    ".join(want))
                continue
            # form 2: a sh block with "# <what>: X" after a command
            if info not in ("sh", "bash"):
                continue
            cmds = commands(lines)
            if not any(re.search(r"#\s*[\w ]+:\s*[-+0-9.e]+\s*$", c) for _, c in cmds):
                continue
            scratch = tempfile.mkdtemp(prefix="weft-docs-")
            try:
                for name in ("tests", "scripts", "examples", "docs"):
                    os.symlink(os.path.join(ROOT, name), os.path.join(scratch, name))
                skipped = set()   # files a skipped command would have made
                for i, c in cmds:
                    words = c.split("#")[0].split()
                    if ("/usr/bin/python3" in c and not torch) or skipped & set(words):
                        skipped |= {w for w in words if "." in w and
                                    not os.path.exists(os.path.join(scratch, w))}
                        continue
                    m = re.search(r"#\s*([\w ]+):\s*([-+0-9.e]+)\s*$", c)
                    cmd = c.split("#")[0] if m else c
                    rc, got = run(cmd, scratch, build)
                    where = f"{rel}:{start + i}"
                    if rc != 0:
                        failures.append(f"{where}: `{cmd.strip()}` failed ({rc}):\n{got}")
                        break
                    if m:
                        checked += 1
                        what, want = m.group(1).strip(), m.group(2)
                        found = re.findall(rf"^{re.escape(what)}:\s*(\S+)", got, re.M)
                        if want not in found:
                            failures.append(f"{where}: `{cmd.strip()}` prints {what}: "
                                            f"{', '.join(found) or 'nothing'}; the doc says {want}")
            finally:
                shutil.rmtree(scratch)
    for f in failures:
        print(f, file=sys.stderr)
    print(f"check_docs: {checked} quoted results checked, {len(failures)} differ"
          + ("" if torch else " (PyTorch commands skipped: --torch runs them)"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
