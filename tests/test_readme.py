"""The README as a new user meets it: every command it shows runs, verbatim, in a copy of the repo.

The runner (tests/helpers/readme.py) is tested on README texts written here; the real README's
commands then run in order through the session fixture `readme_run` (conftest.py).
"""

import os
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from helpers.readme import (ReadmeError, bash_commands, ci_step, run_commands, shell_line,
                            uncovered_inline_commands)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMANDS = bash_commands(README)
# Folders that hold no file of the repository (git-ignored outputs, environments, caches).
NOT_THE_REPO = {".git", ".venv", ".venv-tf", "results", "resources", ".snakemake", "__pycache__", ".pytest_cache"}


def readme(*blocks: str) -> str:
    return "\n\n".join(f"Some prose.\n\n```bash\n{block}\n```" for block in blocks) + "\n"


# -- the runner ------------------------------------------------------------------------------------
def test_the_readme_runner_fails_on_a_target_placed_after_configfile(tmp_path):
    [wrong] = bash_commands(readme("snakemake --cores all --configfile config/demo.yaml features"))
    with pytest.raises(ReadmeError, match=r"line 4: .*target 'features' comes after --configfile"):
        shell_line(wrong)
    [outcome] = run_commands([wrong], tmp_path, {})
    assert outcome.ran is None and outcome.returncode != 0 and "'features'" in outcome.output
    # the same words with the target first, and several config files, are accepted as written
    for text in ("snakemake features --cores all --configfile config/demo.yaml",
                 "snakemake --cores all --configfile config/demo.yaml config/my-run.json --forceall",
                 "snakemake --configfile=config/demo.yaml --cores 2"):
        [right] = bash_commands(readme(text))
        assert shell_line(right) == text


def test_commands_are_read_as_a_user_would_type_them():
    text = readme(
        "# a comment line is not a command\n"
        "vlgen store ls   # a trailing comment stays\n"
        "\n"
        "snakemake --cores all \\\n  --configfile config/demo.yaml\n"
        "cat > config/x.yaml <<'EOF'\nrun: x\n# inside a here-document\nEOF\n"
        "vlgen models",
        "pytest")
    commands = bash_commands(text)
    assert [c.text for c in commands] == [
        "vlgen store ls   # a trailing comment stays",
        "snakemake --cores all \\\n  --configfile config/demo.yaml",
        "cat > config/x.yaml <<'EOF'\nrun: x\n# inside a here-document\nEOF",
        "vlgen models",
        "pytest"]
    assert [c.line for c in commands] == [5, 7, 9, 13, 19]
    assert commands[1].argv == ["snakemake", "--cores", "all", "--configfile", "config/demo.yaml"]
    assert ci_step(commands[4]) == "CI's own step: .ci/run runs the test suite"
    assert [ci_step(c) for c in commands[:4]] == [None] * 4


def test_a_new_command_in_the_readme_is_picked_up_unchanged():
    extended = README + readme("vlgen store ls --store elsewhere")
    added = bash_commands(extended)[len(COMMANDS):]
    assert [str(c) for c in added] == ["vlgen store ls --store elsewhere"]
    assert ci_step(added[0]) is None and shell_line(added[0]) == added[0].text


def test_commands_that_need_the_network_run_offline():
    snake, pin = bash_commands(readme("snakemake weights --cores all   # needs network: downloads\n"
                                      "vlgen weights pin   # needs network"))
    assert shell_line(snake) == "snakemake -n weights --cores all"
    assert shell_line(pin) == "vlgen weights pin --help"
    [multi] = bash_commands(readme("cat > a.yaml <<'EOF'   # needs network\nx: 1\nEOF"))
    with pytest.raises(ReadmeError, match="multi-line"):
        shell_line(multi)


def test_every_command_shown_in_prose_is_run_from_a_bash_block():
    assert uncovered_inline_commands(README) == []
    prose_only = readme("vlgen store ls") + "Then run `vlgen store verify` and `vlgen store ls`.\n"
    assert uncovered_inline_commands(prose_only) == ["vlgen store verify"]


# -- the README's content --------------------------------------------------------------------------
def test_readme_links_resolve_and_nothing_points_outside_the_repository():
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert {"workflow/PROTOCOL.md", "results/README.md", "resources/README.md"} <= set(links)
    assert [link for link in links if not (ROOT / link).is_file()] == []
    outside = "../" + "shared"  # spelled in two parts so this file does not match itself
    assert [str(path.relative_to(ROOT)) for path in repository_files() if outside in path.read_text(errors="ignore")
            ] == []


def repository_files() -> list[Path]:
    """The files of the checkout, without git-ignored outputs, environments and caches."""
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in NOT_THE_REPO and not d.endswith(".egg-info")]
        files += [Path(folder) / name for name in names]
    return files


def test_the_readme_install_line_is_the_one_ci_runs():
    [install] = [part for c in COMMANDS for part in c.parts if part[:2] == ["pip", "install"]]
    assert "-c" in install and "constraints.txt" in install
    logical_lines = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ").splitlines()
    ci = [shlex.split(line, comments=True) for line in logical_lines]
    ci_installs = [[w for w in words if w not in ("time", "--quiet")] for words in ci if "install" in words
                   and "-e" in words]
    assert [words for words in ci_installs if words[0] == "pip"] == [install]
    # the TensorFlow environment (README "TSM": a block the README test does not run, CI does) is made alike;
    # CI adds pytest, to run the TSM tests there
    tf_block = re.search(r"^```sh\n(python3 -m venv \.venv-tf\n.*?)^```", README, re.MULTILINE | re.DOTALL)
    shown = [shlex.split(line) for line in tf_block.group(1).splitlines()]
    ci_tf = [[w for w in words if w not in ("time", "--quiet", "pytest")] for words in ci
             if words[:1] == [".venv-tf/bin/pip"] or words == ["python3", "-m", "venv", ".venv-tf"]]
    assert ci_tf == shown


def test_set_up_is_two_commands_the_first_installs_and_runs_the_demo():
    """The README opens with two commands: install + the offline demo, then the tests."""
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    setup = bash_commands(f"```bash\n{first_block}```\n")
    assert len(setup) == 2 and setup[1].parts == [["pytest"]]
    assert setup[0].parts == [["pip", "install", "-c", "constraints.txt", "-e", ".[test]"],
                              ["snakemake", "--cores", "all", "--configfile", "config/demo.yaml"]]
    assert ci_step(setup[0]) is None and shell_line(setup[0]) == "snakemake --cores all --configfile config/demo.yaml"
    assert ci_step(setup[1]) == "CI's own step: .ci/run runs the test suite"


# -- the real README, run --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(COMMANDS)),
                         ids=[f"line{c.line}-{'_'.join(c.argv[:3])}" for c in COMMANDS])
def test_readme_command_runs(readme_run, index):
    _, outcomes = readme_run
    outcome = outcomes[index]
    assert outcome.command == COMMANDS[index]
    if outcome.ran is None and outcome.returncode == 0:
        pytest.skip(outcome.output)
    assert outcome.returncode == 0, f"README line {outcome.command.line}: {outcome.ran}\n{outcome.output}"


@pytest.mark.slow
def test_the_readme_commands_make_what_the_readme_promises(readme_run):
    work, outcomes = readme_run
    assert all(o.returncode == 0 for o in outcomes), [str(o.command) for o in outcomes if o.returncode]
    demo = work / "results" / "demo"
    assert (demo / "summary.md").read_text().startswith("# Summary of run `demo`")
    # the demo's random-init models exercise the pipeline: no claim of the paper is judged on them
    claims = (demo / "claims.md").read_text()
    assert "| not meaningful: untrained (resnet18-random, clip-rn50-random) |" in claims
    assert "| holds |" not in claims and "| does not hold |" not in claims
    report = (demo / "report.html").read_text()
    assert "filename=claims.html" in report
    assert "system-message" not in report  # every caption rendered: no RST error from an empty template field
    # the model added in "Add a model" was evaluated (the demo rerun at the end drops it from the tables)
    added = pd.read_csv(demo / "fewshot" / "convnext-t" / "digits.csv")
    assert set(added["model"]) == {"convnext-t"} and added["accuracy"].between(0, 1).all()
    by_line = {o.command.line: o for o in outcomes}
    verify = next(o for o in outcomes if o.command.argv[:3] == ["vlgen", "store", "verify"])
    assert re.search(r"\b(\d+) ok, 0 bad", verify.output)
    # the network commands ran as dry runs of the paper's DAG: they list the jobs a real run would do
    paper = [o for o in by_line.values() if o.command.needs_network and o.command.argv[0] == "snakemake"]
    assert paper and all("download_weights" in o.output for o in paper)
