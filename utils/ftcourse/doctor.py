"""`ftcourse doctor`: is this runtime fit for the course? One line per fact, [OK] / [WARN] / [FAIL].

Installed versions are compared with constraints.txt (the course's exact pins):
- [OK]   the pinned version is installed;
- [WARN] another version is installed that the package still supports (pyproject.toml's
         range), as on Colab, which keeps its own torch;
- [FAIL] a required package is missing or outside the supported range.
Dev tools (pytest, ruff, ...) that are not installed are [SKIP]: learners don't need them.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Check:
    status: str  # OK, WARN, FAIL, SKIP, INFO
    label: str
    detail: str = ""

    def line(self) -> str:
        return f"[{self.status}]".ljust(7) + f" {self.label}" + (f": {self.detail}" if self.detail else "")


def constraints_path() -> Path | None:
    """constraints.txt: $FTCOURSE_CONSTRAINTS, else the copy in the wheel, else the repository root."""
    candidates = [os.environ.get("FTCOURSE_CONSTRAINTS"), Path(__file__).with_name("constraints.txt"),
                  REPO_ROOT / "constraints.txt"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def read_pins(path: Path) -> dict[str, str]:
    """name -> exact version from a constraints file; anything but `name==version` is an error."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        spec = list(req.specifier)
        if len(spec) != 1 or spec[0].operator != "==":
            raise ValueError(f"{path}:{number}: {raw.strip()!r} is not an exact pin (name==version)")
        pins[canonicalize_name(req.name)] = spec[0].version
    return pins


def declared_requirements() -> tuple[dict[str, Requirement], set[str]]:
    """The package's own ranges: (runtime requirements by name, names that only an extra needs)."""
    try:
        lines = metadata.requires("ftcourse") or []
    except metadata.PackageNotFoundError:
        import tomllib

        project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
        lines = list(project["dependencies"])
        for extra, reqs in project.get("optional-dependencies", {}).items():
            lines += [f'{r}; extra == "{extra}"' for r in reqs]
    runtime: dict[str, Requirement] = {}
    optional: dict[str, Requirement] = {}
    for line in lines:
        req = Requirement(line)
        target = optional if req.marker and "extra" in str(req.marker) else runtime
        target[canonicalize_name(req.name)] = req
    return runtime, set(optional) - set(runtime)


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_versions(pins: dict[str, str], runtime: dict[str, Requirement], extra_only: set[str]) -> list[Check]:
    checks = []
    for name, pin in pins.items():
        have = installed_version(name)
        req = runtime.get(name)
        if have is None:
            status = "SKIP" if name in extra_only else "FAIL"
            checks.append(Check(status, name, f"not installed (pinned {pin})"))
        elif Version(have).public == Version(pin).public:
            checks.append(Check("OK", name, have))
        elif req is not None and not req.specifier.contains(have, prereleases=True):
            checks.append(Check("FAIL", name, f"{have} is outside the supported range {req.specifier} (pinned {pin})"))
        else:
            checks.append(Check("WARN", name, f"{have} differs from the pin {pin} (still supported)"))
    return checks


def bitsandbytes_backend() -> Check:
    sink = io.StringIO()
    try:
        with redirect_stdout(sink), redirect_stderr(sink):
            import bitsandbytes
            from bitsandbytes import cextension
    except Exception as exc:  # bitsandbytes raises many kinds of errors when its library is missing
        why = f"cannot import ({type(exc).__name__}: {exc}); the QLoRA lessons need it"
        return Check("WARN", "bitsandbytes backend", why)
    backend = getattr(cextension, "BNB_BACKEND", "unknown")
    return Check("INFO", "bitsandbytes backend", f"{backend} (bitsandbytes {bitsandbytes.__version__})")


def runtime_checks() -> list[Check]:
    from ftcourse import env

    info = env.summary()
    checks = [
        Check("INFO", "device", f"{info['device']}" + (f" ({info['gpu']})" if info["gpu"] else "")),
        Check("INFO", "colab", "yes" if info["colab"] else "no"),
        Check("INFO", "bf16 / fp16", f"bf16 {'yes' if info['bf16'] else 'no'}, fp16 {'yes' if info['fp16'] else 'no'}"
              f"; training dtype {info['dtype']}"),
        bitsandbytes_backend(),
    ]
    hub = "reachable" if info["hub_reachable"] else (
        "offline (HF_HUB_OFFLINE is set)" if info["hub_offline_env"] else f"not reachable ({env.HUB_HOST}:443)")
    checks.append(Check("INFO", "hugging face hub", hub))
    try:
        choice = env.choose_mode()
        checks.append(Check("INFO", "mode", f"{choice.mode} ({choice.reason})"))
    except ValueError as exc:
        checks.append(Check("FAIL", "mode", str(exc)))
    return checks


def embedded_model_check() -> Check:
    from ftcourse.models import EmbeddedModelError, verify_embedded

    try:
        directory = verify_embedded()
    except EmbeddedModelError as exc:
        return Check("FAIL", "embedded model", str(exc))
    return Check("OK", "embedded model", f"{directory} (checksums match)")


def run() -> list[Check]:
    """Every check, in the order printed."""
    import platform

    checks = [Check("INFO", "python", f"{platform.python_version()} ({platform.platform()})")]
    path = constraints_path()
    runtime, extra_only = declared_requirements()
    if path is None:
        checks.append(Check("WARN", "constraints.txt", "not found; set FTCOURSE_CONSTRAINTS to check pins"))
    else:
        checks.append(Check("INFO", "constraints", str(path)))
        checks += check_versions(read_pins(path), runtime, extra_only)
    checks += runtime_checks()
    checks.append(embedded_model_check())
    return checks


def main() -> int:
    print("ftcourse doctor (paste this whole output into bug reports)")
    checks = run()
    for check in checks:
        print(check.line())
    failed = [c.label for c in checks if c.status == "FAIL"]
    print(f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "all checks passed")
    return 1 if failed else 0
