"""deploy/systemd: the units an operator installs start commands that exist, every scheduled job
has a timer that fires as often as the job is due, and systemd itself reads every unit without a
complaint (`systemd-analyze verify`, offline, on a copy with the operator's paths pointed at this
checkout)."""

import configparser
import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands

from petitions.jobs import JOBS

UNITS = settings.BASE_DIR / "deploy" / "systemd"
SCHEDULED = "campaign-scheduled@{}.service"
# What an operator changes (the comments in each unit say so): here, pointed at this checkout.
PROJECT = "/srv/campaign"

needs_systemd_analyze = pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed"
)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(_joined((UNITS / name).read_text()))
    return parser


def _joined(text: str) -> str:
    """A unit's text with its continued lines (ending in a backslash) joined."""
    return re.sub(r"\\\n\s*", " ", text)


def timers() -> dict[str, str]:
    """Every timer's file name and the service it starts (Unit=, or the service of its name)."""
    return {
        path.name: unit(path.name)["Timer"].get("Unit", path.stem + ".service")
        for path in sorted(UNITS.glob("*.timer"))
    }


def services() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def test_every_timer_starts_a_service_that_is_in_deploy():
    for timer, service in timers().items():
        template = re.sub(r"@[^.]+\.service$", "@.service", service)
        assert template in services(), f"{timer} starts {service}, which deploy/ does not have"


def test_every_scheduled_job_has_a_timer_and_every_timer_a_job():
    started = {service for service in timers().values() if service.startswith("campaign-sched")}
    assert started == {SCHEDULED.format(job.name) for job in JOBS}


def test_every_command_the_units_start_exists():
    commands = get_commands()
    for name in services():
        for line in unit(name)["Service"].get("ExecStart", "").splitlines():
            words = line.split()
            if "manage.py" in words:
                command = words[words.index("manage.py") + 1]
                assert command in commands, f"{name} runs manage.py {command}, which is not one"
            else:
                assert words[0].startswith(f"{PROJECT}/.venv/bin/"), name


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The units as an operator would install them, the operator's paths pointed at this
    checkout and its virtualenv, and one instance of the scheduled service for each job."""
    venv_bin = str(Path(sys.executable).parent)
    for path in UNITS.iterdir():
        text = path.read_text().replace(f"{PROJECT}/.venv/bin", venv_bin)
        (tmp_path / path.name).write_text(text.replace(PROJECT, str(settings.BASE_DIR)))
    for job in JOBS:
        shutil.copy(tmp_path / SCHEDULED.format(""), tmp_path / SCHEDULED.format(job.name))
    return tmp_path


@needs_systemd_analyze
def test_systemd_reads_every_unit_without_a_complaint(installed: Path):
    names = sorted(path.name for path in installed.iterdir() if not path.name.endswith("@.service"))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr.strip()) == (0, "")


def next_two(calendar: str) -> dt.timedelta:
    """The time between a calendar expression's next two elapses, as systemd computes them."""
    shown = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=2", calendar],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    moments = re.findall(r"(?:Next elapse|Iter\. #2): \w+ (\S+ \S+)", shown)
    first, second = (dt.datetime.fromisoformat(moment) for moment in moments)
    return second - first


@needs_systemd_analyze
def test_each_jobs_timer_fires_as_often_as_the_job_is_due():
    """A timer that fires less often than its job is due leaves the job late (run_scheduled runs
    a job only when it is due, so one that fires more often wastes starts): they must agree."""
    by_service = {service: timer for timer, service in timers().items()}
    for job in JOBS:
        timer = unit(by_service[SCHEDULED.format(job.name)])
        assert next_two(timer["Timer"]["OnCalendar"]) == job.every, job.name
