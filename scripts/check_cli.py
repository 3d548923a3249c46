#!/usr/bin/env python3
"""The command line speaks one vocabulary (docs/cli.md); the suite runs this as 'cli-vocabulary'.

    scripts/check_cli.py WEFT_EXECUTABLE

Checks that every flag every command's --help shows is in docs/cli.md's table of flags, with a
value of a kind the table lists for it (so no two commands give one flag name two meanings);
that 'weft help CMD' prints 'weft CMD --help'; that a mistyped flag gets "did you mean"; that a
renamed flag's old spelling still works with a warning naming the new one; that --help shows no
default a flag does not use (--epochs). Exits 1 naming every problem."""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# commands made of subcommands, and train's other models (each has its own --help)
SUBCOMMANDS = {"bench": [["layer"], ["lm"], ["generate"], ["eval"]], "ngram": [["train"], ["eval"], ["sample"]],
               "word2vec": [[], ["eval"]],
               "train": [[], ["--task", "window-lm"], ["--task", "ngram"], ["--task", "classify"],
                         ["--task", "tag"], ["--task", "window"], ["--task", "seq2seq"]],
               "eval": [[], ["--task", "seq2seq"]]}


def run(weft, args, cwd=None):
    p = subprocess.run([weft, "--quiet"] + args, capture_output=True, text=True, cwd=cwd,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def vocabulary():
    """flag -> set of value kinds, from docs/cli.md's 'Every flag' table."""
    text = open(os.path.join(ROOT, "docs", "cli.md"), encoding="utf-8").read()
    table = text.split("## Every flag", 1)[1]
    vocab = {}
    for line in table.split("\n"):
        cells = re.split(r"(?<!\\)\|", line)
        if len(cells) < 5 or not cells[1].strip().startswith("`--"):
            continue
        flag = cells[1].strip().strip("`")
        kinds = set(k.replace("\\|", "|") for k in re.findall(r"`([^`]+)`", cells[2]))
        vocab[flag] = kinds or {""}
    return vocab


def help_flags(out):
    """(flag, value kind) of every flag line of a --help (global options included)."""
    for line in out.split("\n"):
        m = re.match(r"^  (--[\w-]+)(?: (\S+))?\s{2,}", line)
        if m:
            yield m.group(1), m.group(2) or ""


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    weft = os.path.abspath(sys.argv[1])
    problems = []
    vocab = vocabulary()
    rc, out, _ = run(weft, ["--help"])
    commands = re.findall(r"^  ([a-z][\w-]*)\s{2,}", out.split("commands:", 1)[1], re.M)
    if len(commands) < 10:
        problems.append(f"'weft --help' lists only {commands}")
    checked = 0
    for cmd in commands:
        for sub in SUBCOMMANDS.get(cmd, [[]]):
            args = [cmd] + sub
            rc, out, err = run(weft, args + ["--help"])
            name = "weft " + " ".join(args)
            if rc != 0:
                problems.append(f"{name} --help: exit {rc}: {err.strip()}")
                continue
            for flag, kind in help_flags(out):
                checked += 1
                if flag not in vocab:
                    problems.append(f"{name}: {flag} is not in docs/cli.md's table of flags")
                elif kind not in vocab[flag]:
                    problems.append(f"{name}: {flag} {kind}: docs/cli.md gives {flag} the "
                                    f"values {sorted(vocab[flag])}: another meaning?")
            if "--epochs" in out and re.search(r"--epochs.*\(0: .*\(default: 0\)", out):
                problems.append(f"{name}: --epochs shows a default of 0 it does not use")
            rc2, out2, _ = run(weft, ["help"] + args[:2] if sub[:1] != ["--task"] else ["help", cmd])
            if sub[:1] != ["--task"] and (rc2 != 0 or out2 != out):
                problems.append(f"'weft help {' '.join(args)}' differs from '{name} --help'")

    rc, _, err = run(weft, ["dot", "--cell", "lstm", "--stpes", "3", "-o", "x.dot"])
    if rc != 2 or "did you mean --steps?" not in err:
        problems.append(f"a mistyped --stpes: exit {rc}, {err.strip()!r} (no 'did you mean')")
    with tempfile.TemporaryDirectory() as tmp:
        rc, _, err = run(weft, ["dot", "--cell", "gru", "--level", "ops", "--loss", "last",
                                "--steps", "2", "-o", "x.dot"], cwd=tmp)
        dot = open(os.path.join(tmp, "x.dot")).read() if rc == 0 else ""
        if rc != 0 or "--level is deprecated" not in err or "use --detail" not in err \
                or "use --loss-at" not in err or "sigmoid" not in dot:
            problems.append(f"old spellings of weft dot: exit {rc}, {err.strip()!r}")
    # sample's tokens to generate were --length, which is a task's sequence length elsewhere
    for cmd in (["sample"], ["ngram", "sample"]):
        rc, _, err = run(weft, cmd + ["--length", "3"])
        if "--length is deprecated" not in err or "use --tokens" not in err:
            problems.append(f"old spelling of weft {' '.join(cmd)} --length: {err.strip()!r}")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check_cli: {len(commands)} commands, {checked} flag lines checked against docs/cli.md, "
          f"{len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
