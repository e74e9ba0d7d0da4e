"""constraints.txt is the one place pins live; environment.yml and pyproject.toml must agree with it."""

import tomllib
from pathlib import Path

import pytest
from ftcourse import doctor
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_PINS = {
    "torch": "2.13.0", "transformers": "5.23.0", "peft": "0.21.2", "bitsandbytes": "0.50.2", "datasets": "5.2.0",
    "jupyterlab": "4.6.6", "ipywidgets": "8.1.9", "matplotlib": "3.11.2", "nbmake": "1.5.5",
}


@pytest.fixture(scope="module")
def pins():
    return doctor.read_pins(ROOT / "constraints.txt")


def environment_yml_pins() -> dict[str, str]:
    pins, in_pip = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped == "- pip:":
            in_pip = True
            continue
        if in_pip and stripped.startswith("- ") and "==" in stripped:
            req = Requirement(stripped[2:])
            pins[canonicalize_name(req.name)] = str(req.specifier).removeprefix("==")
    return pins


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_the_course_pins(pins):
    for name, version in REQUIRED_PINS.items():
        assert pins.get(name) == version, f"constraints.txt must pin {name}=={version}"


def test_environment_yml_equals_constraints(pins):
    assert environment_yml_pins() == pins


def test_pyproject_ranges_admit_the_pins(pins):
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is a dependency in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), f"pyproject's {req} excludes the pin {name}=={pins[name]}"


def test_pyproject_has_no_exact_pins():
    for req in pyproject_requirements():
        assert not any(s.operator == "==" for s in req.specifier), f"exact pin {req} belongs in constraints.txt"


def test_torch_range_keeps_colab_torch():
    torch_req = next(r for r in pyproject_requirements() if r.name == "torch")
    assert torch_req.specifier.contains("2.6.0") and torch_req.specifier.contains("2.15.0")


def test_read_pins_rejects_ranges(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("torch>=2.0\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        doctor.read_pins(path)
