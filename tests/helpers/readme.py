"""The commands a README shows, and how the README test runs them verbatim.

A command is a logical line of a ```bash block: `\\` continuations are joined, a here-document
belongs to the command that opens it, blank and comment-only lines are not commands. So a command
added to the README is run by the test without the test changing.

How a command runs (`shell_line`):
- the environment steps CI does itself (`.ci/run` makes the venv, installs, runs pytest) are skipped; in
  `A && B` a leading CI step is dropped and the rest runs (`pip install ... && snakemake ...` runs the demo);
- a command marked `# needs network` runs offline: Snakemake with `-n` (a dry run), any other program
  with `--help` (its subcommand still has to exist);
- anything else runs as written, with bash.
A Snakemake command with a target after `--configfile` is refused: Snakemake would read the target as
one more config file and die with a traceback.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

NETWORK_MARK = "# needs network"
# Command prefixes that are CI's own steps, and why they are not run by the README test.
CI_STEPS = {
    "python3 -m venv": "CI's own step: .ci/run makes a fresh venv",
    "source .venv/bin/activate": "CI's own step: .ci/run activates its venv",
    "pip install": "CI's own step: .ci/run installs with this very line",
    "pytest": "CI's own step: .ci/run runs the test suite",
}
# Programs whose inline mentions (`...` in prose) are commands a user is told to run.
PROGRAMS = ("snakemake", "vlgen", "pip", "pytest", "python", "python3")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")

FENCE = re.compile(r"^```bash\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


class ReadmeError(ValueError):
    """A README command the runner refuses to run, with the reason and the README line."""


@dataclass(frozen=True)
class Command:
    text: str  # verbatim, with continuations and here-document bodies
    line: int  # 1-based line in the README where the command starts

    @property
    def head(self) -> str:
        """The command line itself: continuations joined, without a here-document's body."""
        return self.text.replace("\\\n", " ").split("\n", 1)[0]

    @property
    def argv(self) -> list[str]:
        """The words of the command line (comments dropped)."""
        return shlex.split(self.head, comments=True)

    @property
    def parts(self) -> list[list[str]]:
        """The words of each command of an `A && B` line (one part for a plain command)."""
        parts: list[list[str]] = [[]]
        for word in self.argv:
            if word == "&&":
                parts.append([])
            else:
                parts[-1].append(word)
        return parts

    @property
    def needs_network(self) -> bool:
        return NETWORK_MARK in self.head

    def __str__(self) -> str:
        return self.head


def bash_commands(readme: str) -> list[Command]:
    """Every command of every ```bash block, in README order."""
    commands = []
    for block in FENCE.finditer(readme):
        first_line = readme.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            start = i
            text = lines[i]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text += "\n" + lines[i]
            heredoc = HEREDOC.search(text)
            if heredoc:
                end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == heredoc.group(2)), None)
                if end is None:
                    raise ReadmeError(f"README line {first_line + start}: here-document {heredoc.group(2)} never ends")
                text = "\n".join([text, *lines[i + 1:end + 1]])
                i = end
            i += 1
            if text.strip() and not text.lstrip().startswith("#"):
                commands.append(Command(text, first_line + start))
    return commands


def inline_commands(readme: str) -> list[str]:
    """Inline code spans outside code blocks that start with a program name: commands shown in prose."""
    prose = FENCE.sub("", re.sub(r"^```.*?^```", "", readme, flags=re.MULTILINE | re.DOTALL))
    return [span for span in INLINE.findall(prose) if span.split()[0] in PROGRAMS]


def uncovered_inline_commands(readme: str) -> list[str]:
    """Inline commands that no ```bash command starts with: the test would not run them."""
    shown = [command.argv for command in bash_commands(readme)]
    return [span for span in inline_commands(readme)
            if not any(argv[:len(words)] == words for argv in shown for words in [shlex.split(span)])]


def _ci_reason(words: list[str]) -> str | None:
    line = " ".join(words)
    return next((why for prefix, why in CI_STEPS.items() if line == prefix or line.startswith(prefix + " ")), None)


def ci_step(command: Command) -> str | None:
    """Why the README test does not run `command` (CI does), or None when it runs some of it."""
    reasons = [_ci_reason(words) for words in command.parts]
    return reasons[0] if all(reasons) else None


def without_ci_steps(command: Command) -> Command:
    """`command` less its leading CI steps: `pip install ... && snakemake ...` -> `snakemake ...`."""
    if "\n" in command.text or len(command.parts) == 1:
        return command
    pieces = command.head.split(" && ")
    while len(pieces) > 1 and _ci_reason(shlex.split(pieces[0], comments=True)):
        pieces.pop(0)
    return Command(" && ".join(pieces), command.line)


def check_target_order(command: Command) -> None:
    """Refuse a Snakemake command that names a target after --configfile (read as a config file)."""
    argv = command.argv
    in_configfiles = False
    for word in argv[1:]:
        if word.startswith("-"):
            in_configfiles = word in CONFIGFILE_OPTIONS
        elif in_configfiles and PurePosixPath(word).suffix not in CONFIG_SUFFIXES:
            raise ReadmeError(
                f"README line {command.line}: `{command}`: target {word!r} comes after --configfile, so "
                f"Snakemake reads it as a config file; put targets before --configfile")


def shell_line(command: Command) -> str:
    """What bash runs for `command` (see the module docstring); raises ReadmeError when refused."""
    command = without_ci_steps(command)
    argv = command.argv
    if argv and argv[0] == "snakemake":
        check_target_order(command)
    if not command.needs_network:
        return command.text
    if "\n" in command.text:
        raise ReadmeError(f"README line {command.line}: `{command}`: a multi-line command cannot be marked "
                          f"'{NETWORK_MARK}'")
    if argv[0] == "snakemake":
        return shlex.join([argv[0], "-n", *argv[1:]])
    return shlex.join([*argv, "--help"])


@dataclass(frozen=True)
class Outcome:
    command: Command
    ran: str | None  # the shell line run, None when skipped
    returncode: int
    seconds: float
    output: str  # the last lines of stdout and stderr, or why the command did not run


def run_commands(commands: list[Command], workdir: Path, env: dict[str, str]) -> list[Outcome]:
    """Run `commands` in order in `workdir`; after the first failure the rest are recorded as not run."""
    outcomes: list[Outcome] = []
    failed: Outcome | None = None
    for command in commands:
        skip = ci_step(command)
        if skip or failed:
            reason = skip or f"not run: README line {failed.command.line} failed"
            outcomes.append(Outcome(command, None, 0 if skip else -1, 0.0, reason))
            continue
        try:
            line = shell_line(command)
        except ReadmeError as exc:
            failed = Outcome(command, None, -1, 0.0, str(exc))
            outcomes.append(failed)
            continue
        start = time.monotonic()
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", line], cwd=workdir, env=env,
                              capture_output=True, text=True)
        outcome = Outcome(command, line, proc.returncode, time.monotonic() - start,
                          (proc.stdout[-3000:] + "\n" + proc.stderr[-6000:]).strip())
        outcomes.append(outcome)
        if proc.returncode:
            failed = outcome
    return outcomes
