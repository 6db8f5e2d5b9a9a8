"""Run the workflow through a real SLURM cluster (`snakemake --workflow-profile profiles/slurm`) and
read back what Snakemake submitted and what SLURM's accounting recorded."""

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.$")
RULE = re.compile(r"^(\s*)(local)?rule (\w+):$")
JOBID = re.compile(r"^\s*jobid: (\d+)$")


def slurm_unavailable() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one answers."""
    if shutil.which("sbatch") is None:
        return "sbatch is not on PATH (a SLURM cluster: apt-get install slurmctld slurmd slurm-client munge " \
               "slurmdbd mariadb-server, then .ci/slurm/start)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no SLURM controller answers (.ci/slurm/start starts one)"
    if out.returncode != 0 or not out.stdout.strip():
        return f"no SLURM controller answers sinfo: {out.stderr.strip()} (.ci/slurm/start starts one)"
    return None


@dataclass
class Run:
    """One Snakemake invocation: its output, wall time, and the jobs it ran or submitted."""

    returncode: int
    output: str
    seconds: float
    run_uuid: str = ""
    submissions: dict[str, tuple[str, str]] = field(default_factory=dict)  # snakemake job -> (slurm id, log)
    remote: dict[str, str] = field(default_factory=dict)  # snakemake jobid -> rule, submitted to SLURM
    local: dict[str, str] = field(default_factory=dict)  # snakemake jobid -> rule, run on this host
    group_of: dict[str, str] = field(default_factory=dict)  # snakemake jobid -> the group job it ran in

    def parse(self) -> "Run":
        members: list[str] = []
        rule = None
        for line in self.output.splitlines():
            if line.startswith("SLURM run ID: "):
                self.run_uuid = line.split(": ", 1)[1].strip()
            if m := SUBMITTED.match(line):
                self.submissions[m[1]] = (m[2], m[3])
                for jobid in members:
                    self.group_of[jobid] = m[1]
                members = []
            elif m := RULE.match(line):
                rule = (m[2] is not None, m[3], bool(m[1]))
            elif (m := JOBID.match(line)) and rule:
                is_local, name, in_group = rule
                (self.local if is_local else self.remote)[m[1]] = name
                if in_group:
                    members.append(m[1])
                rule = None
        return self


def snakemake(workdir: Path, *args: str, cap_seconds: int = 360) -> Run:
    """`snakemake ARGS` in `workdir`, killed (timeout -k) after `cap_seconds`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    started = time.monotonic()
    proc = subprocess.run(["timeout", "-k", "15", str(cap_seconds), "snakemake", *args], cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Run(proc.returncode, proc.stdout, time.monotonic() - started).parse()


def accounting(run_uuid: str) -> dict[str, dict[str, str]]:
    """SLURM's accounting records of every allocation named `run_uuid` (the plugin's job name)."""
    fields = ["JobID", "JobName", "State", "ExitCode", "Comment", "AllocTRES"]
    for _ in range(30):  # slurmdbd takes a moment to record the last job's end
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-a", "--name", run_uuid, "-S", "now-1days",
                              "-o", ",".join(fields)], capture_output=True, text=True, check=True)
        rows = [dict(zip(fields, line.split("|"))) for line in out.stdout.splitlines() if line]
        if rows and all(r["State"] not in ("PENDING", "RUNNING") for r in rows):
            return {r["JobID"]: r for r in rows}
        time.sleep(1)
    return {r["JobID"]: r for r in rows}
