import subprocess
import sys

from ftcourse import doctor
from packaging.requirements import Requirement


def _status(checks, name):
    return next(c.status for c in checks if c.label == name)


def test_version_rules(monkeypatch):
    installed = {"torch": "2.13.0", "transformers": "4.40.0", "numpy": "2.0.0", "peft": None, "ruff": None}
    monkeypatch.setattr(doctor, "installed_version", installed.get)
    pins = {"torch": "2.13.0", "transformers": "5.23.0", "numpy": "2.4.6", "peft": "0.21.2", "ruff": "0.17.6"}
    runtime = {"transformers": Requirement("transformers>=5.0,<6"), "numpy": Requirement("numpy>=1.26"),
               "peft": Requirement("peft>=0.17")}
    checks = doctor.check_versions(pins, runtime, extra_only={"ruff"})
    assert _status(checks, "torch") == "OK"
    assert _status(checks, "transformers") == "FAIL"  # outside the supported range
    assert _status(checks, "numpy") == "WARN"  # another version, still supported (e.g. Colab's)
    assert _status(checks, "peft") == "FAIL"  # required and missing
    assert _status(checks, "ruff") == "SKIP"  # a dev tool a learner does not need


def test_local_version_suffix_counts_as_the_pin(monkeypatch):
    monkeypatch.setattr(doctor, "installed_version", lambda name: "2.13.0+cpu")
    assert doctor.check_versions({"torch": "2.13.0"}, {}, set())[0].status == "OK"


def test_doctor_passes_in_the_course_environment():
    """`make test` runs inside the pinned .venv, so every line must be OK or INFO there."""
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "doctor"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in ("torch", "transformers", "peft", "bitsandbytes", "datasets"):
        assert any(line.startswith("[OK]") and f" {name}: " in line for line in lines), proc.stdout
    for label in ("device", "bf16 / fp16", "bitsandbytes backend", "mode", "hugging face hub", "embedded model"):
        assert any(f" {label}: " in line for line in lines), f"doctor must report {label}"
    assert "smoke" in proc.stdout


def test_doctor_fails_on_a_bad_mode():
    env = {"FTCOURSE_MODE": "turbo", "HF_HUB_OFFLINE": "1", "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "doctor"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1
    assert "[FAIL]  mode: FTCOURSE_MODE='turbo'" in proc.stdout


def test_cli_reports_bad_mode_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "ftcourse.cli", "mode"], capture_output=True, text=True,
                          env={"FTCOURSE_MODE": "turbo", "PATH": ""}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "auto, smoke, full" in proc.stderr


def test_cli_passes_options_through_to_estimate_and_bench(capsys):
    from ftcourse import cli

    assert cli.main(["estimate", "tiny", "--batch", "2", "--seq", "64"]) == 0
    assert "memory breakdown: tiny" in capsys.readouterr().out
    for argv in (["estimate", "--help"], ["bench", "memory", "--help"], ["bench", "lora", "--help"]):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's --help exits 0
            code = exc.code
        assert code == 0, argv
        assert "usage:" in capsys.readouterr().out
