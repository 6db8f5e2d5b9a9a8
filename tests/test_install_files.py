"""pyproject.toml, constraints.txt and envs/vlgen.yaml describe one installation.

pyproject says what the package needs (ranges), constraints.txt the exact versions of the whole
resolved stack CI installs with `pip install -c constraints.txt -e '.[test]'`, and the conda
environment of the rules the same versions. These tests fail when one of them moves alone.
The `[tf]` extra lives in its own environment (constraints-tf.txt, envs/tf-requirements.txt,
envs/tf.yaml), checked the same way.
"""

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONDA_ENV = yaml.safe_load((ROOT / "envs" / "vlgen.yaml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=]+)$")
# Runs the jobs, is not run inside them: the conda environment of the rules does not hold it.
NOT_IN_JOBS = {"snakemake"}
# Extras installed in an environment of their own, with their own constraints file.
SEPARATE_EXTRAS = {"tf": "constraints-tf.txt"}
# Where the TensorFlow environment must differ from constraints.txt, and why.
TF_DIFFERS = {"h5py": "tensorflow-cpu 2.21 needs h5py < 3.15"}


def constraints(filename: str = "constraints.txt") -> dict[str, Version]:
    """Canonical name -> pinned version; every line must be an exact `name==version` pin."""
    pins: dict[str, Version] = {}
    for number, line in enumerate((ROOT / filename).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"{filename} line {number}: {line!r} is not an exact `name==version` pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{filename} line {number}: {name} is pinned twice"
        pins[name] = Version(match.group(2))
    return pins


def core_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["dependencies"]]


def extra_requirements(extra: str) -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["optional-dependencies"][extra]]


def all_requirements() -> list[Requirement]:
    """Core and extras of the main environment (not SEPARATE_EXTRAS)."""
    extras = [r for name in PYPROJECT["optional-dependencies"] if name not in SEPARATE_EXTRAS
              for r in extra_requirements(name)]
    return core_requirements() + extras


def conda_pins(env: dict = CONDA_ENV, filename: str = "envs/vlgen.yaml") -> tuple[str, dict[str, Version]]:
    """The conda env's python spec, and its pip section as canonical name -> exact version."""
    deps = env["dependencies"]
    [python] = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    [pip] = [d["pip"] for d in deps if isinstance(d, dict)]
    pins = {}
    for line in pip:
        match = PIN.match(line)
        assert match, f"{filename}: pip entry {line!r} is not an exact `name==version` pin"
        pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return python, pins


def test_every_pyproject_requirement_is_pinned_within_its_range():
    pins = constraints()
    for requirement in all_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt: {requirement.name} (pyproject.toml) is not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement}")


def test_open_clip_is_at_least_3_0():
    """create_model(pretrained_text=False), which the CLIP text tower's loader uses, is new in 3.0.0."""
    [open_clip] = [r for r in core_requirements() if canonicalize_name(r.name) == "open-clip-torch"]
    assert not open_clip.specifier.contains("2.32.0") and open_clip.specifier.contains("3.0.0")


def test_the_conda_environment_has_the_same_versions():
    pins = constraints()
    python, conda = conda_pins()
    jobs_need = {canonicalize_name(r.name) for r in core_requirements()} - NOT_IN_JOBS
    assert set(conda) == jobs_need, f"envs/vlgen.yaml lists {sorted(set(conda) ^ jobs_need)} differently"
    differ = {name: f"{version} (constraints.txt: {pins[name]})" for name, version in conda.items()
              if pins[name] != version}
    assert differ == {}, f"envs/vlgen.yaml pins other versions than constraints.txt: {differ}"
    # the same Python range: pyproject's lower bound, and the minor version constraints.txt was made with
    lowest = Version(PYPROJECT["requires-python"].removeprefix(">="))
    conda_python = SpecifierSet(python.removeprefix("python"))
    below = f"{lowest.major}.{lowest.minor}.{lowest.micro - 1}"
    next_minor = f"{lowest.major}.{lowest.minor + 1}.0"
    assert str(lowest) in conda_python and f"{lowest.major}.{lowest.minor}.99" in conda_python
    assert below not in conda_python and next_minor not in conda_python, f"envs/vlgen.yaml: {python}"


def test_constraints_cover_the_installed_stack_at_its_versions():
    """Walk the installed requirements from pyproject's: each one is pinned, at the version installed.

    CI installs with -c constraints.txt, so a dependency that is missing or stale here means the
    file no longer describes what the tests run on.
    """
    pins = constraints()
    environment = default_environment()
    seen: set[str] = set()
    todo = [(r, "pyproject.toml") for r in all_requirements() if requirement_applies(r, set(), environment)]
    while todo:
        requirement, parent = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        installed = Version(metadata.version(requirement.name))
        assert name in pins, f"constraints.txt: {name} (required by {parent}) is not pinned"
        assert pins[name] == installed, f"constraints.txt pins {name}=={pins[name]}; {installed} is installed"
        requires = [Requirement(r) for r in metadata.requires(requirement.name) or []]
        todo += [(r, name) for r in requires if requirement_applies(r, requirement.extras, environment)]
    assert len(seen) > 50  # the walk reached the transitive stack (torch alone brings dozens)


def requirement_applies(requirement: Requirement, extras: set[str], environment: dict[str, str]) -> bool:
    """Whether a dependency's marker holds here, for the extras it was asked with (or none)."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**environment, "extra": e}) for e in ("", *extras))


def imported_modules() -> Iterator[tuple[str, Path]]:
    """(top-level module, file) of every non-stdlib import in workflow/vlgen and workflow/scripts."""
    for path in sorted((ROOT / "workflow").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                       [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "vlgen":
                    yield top, path


# Modules of a separate environment's extra (not installed here, so metadata cannot name them), and the
# only file allowed to import each: the main environment never needs them.
SEPARATE_MODULES = {"tensorflow": ("tf", "workflow/vlgen/models/source_tf_hub.py")}


def test_every_library_the_package_imports_is_a_declared_dependency():
    """A module imported by workflow/vlgen or workflow/scripts comes from a pyproject dependency."""
    declared = {canonicalize_name(r.name) for r in core_requirements()}
    providers = metadata.packages_distributions()
    undeclared = {}
    for top, path in imported_modules():
        if top in SEPARATE_MODULES:
            continue
        if not {canonicalize_name(d) for d in providers.get(top, [top])} & declared:
            undeclared.setdefault(top, str(path.relative_to(ROOT)))
    assert undeclared == {}, f"imported but not in pyproject.toml's dependencies: {undeclared}"


def test_tensorflow_is_imported_by_the_tf_hub_source_only():
    importers = {(top, str(path.relative_to(ROOT))) for top, path in imported_modules() if top in SEPARATE_MODULES}
    assert importers == {(top, where) for top, (_, where) in SEPARATE_MODULES.items()}
    assert "tensorflow-cpu" in {canonicalize_name(r.name) for r in extra_requirements("tf")}
    assert not any("tensorflow" in r.name for r in core_requirements())


def test_the_tf_environment_files_agree():
    """constraints-tf.txt pins the `[tf]` extra within range and everything envs/tf-requirements.txt
    lists; envs/tf.yaml has exactly those versions; shared packages match constraints.txt but TF_DIFFERS."""
    tf_pins, main_pins = constraints(SEPARATE_EXTRAS["tf"]), constraints()
    for requirement in extra_requirements("tf"):
        name = canonicalize_name(requirement.name)
        assert name in tf_pins and requirement.specifier.contains(tf_pins[name]), (name, tf_pins.get(name))
    listed = {canonicalize_name(line.strip()) for line in (ROOT / "envs" / "tf-requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert {canonicalize_name(r.name) for r in extra_requirements("tf")} <= listed
    python, conda = conda_pins(yaml.safe_load((ROOT / "envs" / "tf.yaml").read_text()), "envs/tf.yaml")
    assert set(conda) == listed, f"envs/tf.yaml lists {sorted(set(conda) ^ listed)} differently"
    assert {name: version for name, version in conda.items() if tf_pins.get(name) != version} == {}
    assert python == conda_pins()[0]
    differ = {name for name in tf_pins.keys() & main_pins.keys() if tf_pins[name] != main_pins[name]}
    assert differ == set(TF_DIFFERS), f"constraints-tf.txt and constraints.txt differ on {sorted(differ)}"
