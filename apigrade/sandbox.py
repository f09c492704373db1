"""Start learner code with resource limits, in a sandbox where possible.

Three isolation levels, chosen once by the engine and passed to every grader
in the APIGRADE_ISOLATION variable:

- `bubblewrap`: the process runs under bwrap in new mount, PID, network, IPC
  and UTS namespaces. It can read the system's programs and libraries and
  the Python environment, and write in a private /tmp and in the chapter's
  temporary folder, which contains a copy of the learner's code; the course
  (graders, solutions, reports) and other learners' folders do not exist in
  it. Its network has only a loopback interface: the grader reaches the app
  through a Unix socket in the temporary folder. When the engine runs as
  root, the code runs as an unprivileged user of its own, so the process
  limit applies. bwrap's own init process starts the code; when the code's
  first process ends, that init exits and the kernel ends every process left
  in the sandbox. When the grader dies, even by SIGKILL, bwrap and then the
  code die with it: the child that runs bwrap sets the parent-death signal
  before it starts bwrap, and exits if the grader is already gone.
- `landlock`: where bubblewrap cannot run but the kernel has Landlock
  (Linux 5.13 and later), the process restricts itself before it starts the
  code. It can read the same system folders and Python environment, and
  /proc and the usual character devices (/dev/null, /dev/urandom and the
  like); it can write only in its temporary folders, /dev/shm and those
  devices. The course and other learners' folders can be neither
  read nor written, no TCP port can be bound or connected to (from Landlock
  ABI 4), and no signal can reach a process outside the sandbox (ABI 6).
  As root, the process also loses every capability. UDP and the PID and
  network namespaces stay shared with the machine.
- `limits`: where neither works (macOS, old kernels), the process still
  gets the resource limits below, a process group that the grader kills,
  and the checks' deadlines. It can read what the grader's user can.

Limits, per process: address space, CPU time, file size, open files, and the
number of processes and threads of the sandbox user. As root, at every level,
a pids and memory cgroup caps all of the code's processes together, where the
machine lets one be made.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from apigrade import landlock

ISOLATION_VARIABLE = "APIGRADE_ISOLATION"
BUBBLEWRAP = "bubblewrap"
LANDLOCK = "landlock"
LIMITS = "limits"
LEVELS = (BUBBLEWRAP, LANDLOCK, LIMITS)
MIB = 1024 * 1024
# The sandbox user, when the grader runs as root: a uid no account uses, one
# per grader process, so concurrent chapters neither share a process count nor
# reach each other's files.
FIRST_SANDBOX_UID = 200_000
PROBE_TIMEOUT = 10.0
# Seconds bwrap's init may take to start the code.
CHILD_TIMEOUT = 5.0
# Names of the cgroups a grader makes start with this variable's value, which
# the engine sets per grader, so it can remove what a killed grader left.
CGROUP_PREFIX_VARIABLE = "APIGRADE_CGROUP_PREFIX"
CGROUP_PREFIX_DEFAULT = "apigrade"
# System folders a sandbox can read, where they exist.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kernel's random devices, which start(random_devices=False) replaces.
RANDOM_DEVICES = ("/dev/random", "/dev/urandom")
# Devices learner code may open under Landlock, as bwrap's --dev provides.
SANDBOX_DEVICES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    """Resource limits for learner code; see docs/architecture.md."""

    address_space: int = 2048 * MIB
    cpu_seconds: int = 600
    file_size: int = 256 * MIB
    open_files: int = 1024
    # Processes and threads: uvicorn's thread pool alone may start 40.
    tasks: int = 512
    tmp_size: int = 64 * MIB
    memory: int = 3072 * MIB
    # All files in a writable folder together, where a size-limited tmpfs can
    # be mounted on it (see limit_folder_size).
    folder_size: int = 512 * MIB


LIMITS_DEFAULT = Limits()


@functools.cache
def bubblewrap_works() -> bool:
    """Return True when bwrap is installed and can create a sandbox here."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, *_namespace_args(), "--ro-bind", "/", "/", "--", "true"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return False
        probe[-1:] = [*_drop_privileges_args(setpriv, FIRST_SANDBOX_UID), "true"]
    try:
        completed = subprocess.run(
            probe, capture_output=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


def landlock_works() -> bool:
    """Return True when the kernel offers Landlock to unprivileged processes."""
    return landlock.abi_version() > 0


def choose_isolation(requested: str = "auto") -> str:
    """Return the isolation level to use for `requested` (auto or a level).

    `auto` picks the strongest level that works here. Raises ValueError,
    naming the fix, when a level is asked for but cannot run.
    """
    if requested not in ("auto", *LEVELS):
        raise ValueError(
            f"isolation {requested!r} is not one of auto, {', '.join(LEVELS)}"
        )
    if requested == LIMITS:
        return LIMITS
    if requested in ("auto", BUBBLEWRAP) and bubblewrap_works():
        return BUBBLEWRAP
    if requested == BUBBLEWRAP:
        raise ValueError(
            "isolation 'bubblewrap' was requested, but bwrap is not installed or "
            "cannot create namespaces here: install it (apt-get install bubblewrap) "
            "or pass --isolation auto"
        )
    if landlock_works():
        return LANDLOCK
    if requested == LANDLOCK:
        raise ValueError(
            "isolation 'landlock' was requested, but this kernel does not offer "
            "Landlock (Linux 5.13 or later, with landlock in its lsm= list): "
            "pass --isolation limits"
        )
    return LIMITS


def current_isolation() -> str:
    """Return the level the engine chose for this grader; `limits` if it set none."""
    level = os.environ.get(ISOLATION_VARIABLE, LIMITS)
    return level if level in LEVELS else LIMITS


@dataclass
class SandboxedProcess:
    """A started learner process and how to signal it.

    `pid_to_signal` is the learner's first process: under bubblewrap it is not
    the Popen process (bwrap itself), which does not pass signals on.
    """

    popen: subprocess.Popen[bytes]
    pid_to_signal: int
    cgroups: list[Path] = field(default_factory=list)

    @property
    def has_own_cpu_share(self) -> bool:
        """Return True when the learner's processes share the CPUs as one group.

        A CPU cgroup of the grader's gives the group the weight of one
        ordinary program, which the code cannot lower: a lower nice value or
        scheduling policy then ranks its threads only against each other.
        Without one, the code can lower its own priority, for example through
        /proc/self/autogroup.
        """
        return any(_controls_cpu(cgroup) for cgroup in self.cgroups)

    def cpu_seconds(self) -> float | None:
        """Return the CPU time all the learner's processes used, from its cgroups.

        None without a cgroup that counts it (cgroup v1 cpuacct, or v2).
        """
        for cgroup in self.cgroups:
            with contextlib.suppress(OSError, ValueError):
                if (cgroup / "cpuacct.usage").exists():
                    return int((cgroup / "cpuacct.usage").read_text()) / 1e9
                for line in (cgroup / "cpu.stat").read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == "usage_usec":
                        return int(value) / 1e6
        return None

    def terminate(self, number: int = signal.SIGTERM) -> None:
        """Ask the learner's process to stop, as a process manager would.

        `number` is the signal to send: SIGTERM, or the one an image's
        STOPSIGNAL names, as `docker stop` does.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid_to_signal, number)

    def kill(self) -> None:
        """Kill every process of the sandbox and wait for the first one."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        for cgroup in self.cgroups:
            _kill_cgroup(cgroup)
        self.popen.wait()
        for cgroup in self.cgroups:
            _remove_cgroup(cgroup)


def start(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: IO[bytes] | int,
    writable: Path,
    also_writable: Sequence[Path] = (),
    readable: Sequence[Path] = (),
    isolation: str | None = None,
    limits: Limits = LIMITS_DEFAULT,
    stdin: int = subprocess.DEVNULL,
    random_devices: bool = True,
    proc_filesystem: bool = True,
) -> SandboxedProcess:
    """Start `command` as learner code, in its own session, and return it.

    `writable` is the temporary folder the code may write in, and
    `also_writable` lists more such folders. `readable` lists folders the
    code may read but not change, under bubblewrap and Landlock. The code can
    also read the system's folders and the Python environment running this
    grader. Its stdin is empty unless `stdin` is subprocess.PIPE.

    With `random_devices` false, /dev/random and /dev/urandom read as zeros
    under bubblewrap, and cannot be opened under Landlock. Python's own random
    bytes come from the getrandom system call, so they are unaffected.

    With `proc_filesystem` false, the code cannot read /proc: bubblewrap
    mounts none, and Landlock grants no access to it. So the code cannot read
    its own memory through /proc/self/mem either.
    """
    level = isolation or current_isolation()
    folders = [writable, *also_writable]
    # Opened once and used by descriptor from here on: the code may already
    # run in one of these folders and swap a name for a link at any moment.
    folder_fds: list[int] = []
    try:
        for folder in folders:
            folder_fds.append(_open_real_folder(folder))
        return _start(
            command,
            cwd=cwd,
            env=env,
            stdout=stdout,
            folders=list(zip(folders, folder_fds, strict=True)),
            readable=list(readable),
            level=level,
            limits=limits,
            stdin=stdin,
            random_devices=random_devices,
            proc_filesystem=proc_filesystem,
        )
    finally:
        for fd in folder_fds:
            os.close(fd)


def _start(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: IO[bytes] | int,
    folders: list[tuple[Path, int]],
    readable: list[Path],
    level: str,
    limits: Limits,
    stdin: int,
    random_devices: bool,
    proc_filesystem: bool,
) -> SandboxedProcess:
    # As root, a cgroup caps the memory and processes of everything the code
    # starts, together; rlimits cap each process on its own.
    cgroups = _make_cgroups(limits) if os.geteuid() == 0 else []
    if level == BUBBLEWRAP:
        uid = _sandbox_uid()
        if uid is not None:
            for _, fd in folders:
                _hand_over(fd, uid)
        info_read, info_write = os.pipe()
        wrapped = _bubblewrap_command(
            command,
            cwd=cwd,
            writable=folders,
            readable=readable,
            uid=uid,
            info_fd=info_write,
            limits=limits,
            random_devices=random_devices,
            proc_filesystem=proc_filesystem,
        )
        try:
            popen = subprocess.Popen(
                wrapped,
                cwd="/",
                env=dict(env),
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # bwrap closes each --bind-fd descriptor once it is mounted.
                pass_fds=(info_write, *(fd for _, fd in folders)),
                preexec_fn=_set_limits_function(limits, cgroups=cgroups),
            )
        finally:
            os.close(info_write)
        init_pid = _read_child_pid(info_read, popen)
        pid = _first_child(init_pid) if init_pid != popen.pid else init_pid
        return SandboxedProcess(popen=popen, pid_to_signal=pid, cgroups=cgroups)

    rules: list[tuple[str | int, int]] = []
    if level == LANDLOCK:
        rules = _landlock_rules(
            [fd for _, fd in folders],
            readable,
            random_devices=random_devices,
            proc_filesystem=proc_filesystem,
        )
    # The folder descriptors reach the child, which gives them to Landlock
    # before exec; Popen closes them before the code starts.
    popen = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_set_limits_function(limits, cgroups=cgroups, landlock_rules=rules),
    )
    return SandboxedProcess(popen=popen, pid_to_signal=popen.pid, cgroups=cgroups)


class UnsafeFolder(Exception):
    """A folder handed to learner code is a link, lies behind one, or is missing."""


def require_real_folder(folder: Path) -> None:
    """Raise UnsafeFolder unless `folder` is a real folder at that very path."""
    os.close(_open_real_folder(folder))


def _open_real_folder(folder: Path) -> int:
    """Open `folder`, refusing it unless it is a real folder at that very path.

    The path the kernel reports for the open descriptor must equal the path
    asked for, so no link anywhere along it can send the code, or a chown,
    to another folder.
    """
    try:
        fd = os.open(
            folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except OSError as error:
        raise UnsafeFolder(
            f"the folder {folder} cannot be given to the app: {error.strerror} "
            "(a link or a file stands in its place, or it is missing)"
        ) from None
    if os.readlink(f"/proc/self/fd/{fd}") != os.path.abspath(folder):
        os.close(fd)
        raise UnsafeFolder(
            f"the folder {folder} cannot be given to the app: a link along its "
            "path leads elsewhere"
        )
    return fd


def _namespace_args() -> list[str]:
    # As root, bwrap makes the namespaces itself and setpriv then drops to the
    # sandbox user; a user namespace would leave that uid unmapped. Without
    # root, the user namespace is what lets bwrap make the others.
    if os.geteuid() == 0:
        unshare = ["--unshare-pid", "--unshare-net", "--unshare-ipc"]
        unshare += ["--unshare-uts", "--unshare-cgroup-try"]
    else:
        unshare = ["--unshare-all", "--disable-userns"]
    return [*unshare, "--die-with-parent", "--hostname", "sandbox"]


def _drop_privileges_args(setpriv: str, uid: int) -> list[str]:
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        # The uid change clears the parent-death signal that bwrap's
        # --die-with-parent set, so it is set again.
        "--pdeathsig",
        "SIGKILL",
        "--",
    ]


def _sandbox_uid() -> int | None:
    """Return the uid learner code runs as: its own if the grader is root, else None."""
    if os.geteuid() != 0:
        return None
    return FIRST_SANDBOX_UID + os.getpid()


def _hand_over(folder_fd: int, uid: int) -> None:
    """Give the sandbox user an open folder and everything in it.

    The walk goes by descriptor and never follows a link, so a link the code
    planted, or swaps in during the walk, is changed itself (lchown) and the
    file it points at is not.
    """
    os.fchown(folder_fd, uid, uid)
    for _, folders, files, dir_fd in os.fwalk(dir_fd=folder_fd, follow_symlinks=False):
        for name in [*folders, *files]:
            with contextlib.suppress(OSError):
                os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)


def _bubblewrap_command(
    command: Sequence[str],
    *,
    cwd: Path,
    writable: Sequence[tuple[Path, int]],
    readable: Sequence[Path],
    uid: int | None,
    info_fd: int,
    limits: Limits,
    random_devices: bool = True,
    proc_filesystem: bool = True,
) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError("bwrap disappeared after the isolation level was chosen")
    args = [bwrap, *_namespace_args(), "--info-fd", str(info_fd)]
    for system_path in SYSTEM_PATHS:
        args += ["--ro-bind-try", system_path, system_path]
    if proc_filesystem:
        args += ["--proc", "/proc"]
    args += ["--dev", "/dev"]
    if not random_devices:
        for device in RANDOM_DEVICES:
            args += ["--dev-bind", "/dev/zero", device]
    args += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/dev/shm"]
    python_paths = _python_paths()
    bound = sorted({*python_paths, *(folder for folder, _ in writable), *readable})
    # bwrap makes missing parent folders readable by root only; these are
    # made first, open to all, so the sandbox user can reach what is bound.
    parents = sorted(
        {str(parent) for path in bound for parent in path.parents}
        - {"/", *SYSTEM_PATHS, "/tmp", "/proc", "/dev"},
        key=lambda name: (name.count("/"), name),
    )
    for parent in parents:
        if not any(parent.startswith(f"{system}/") for system in SYSTEM_PATHS):
            args += ["--perms", "0755", "--dir", parent]
    for path in sorted(python_paths):
        args += ["--ro-bind", str(path), str(path)]
    for folder, fd in writable:
        args += ["--bind-fd", str(fd), str(folder)]
    # After the writable folders, so a folder inside one of them is read-only.
    for folder in readable:
        args += ["--ro-bind", str(folder), str(folder)]
    args += ["--chdir", str(cwd), "--"]
    if uid is not None:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise RuntimeError(
                "setpriv disappeared after the isolation level was chosen"
            )
        args += _drop_privileges_args(setpriv, uid)
    return args + list(command)


# Links followed from sys.executable to the real interpreter; the kernel
# itself gives up after 40.
MAX_LINK_HOPS = 40


def _python_paths() -> set[Path]:
    """Return the folders the Python running this grader needs, to be readable.

    That is its environment and base installation, and the folder of each
    link on the way to its executable: a virtual environment made by uv from
    another one links to that one's python, which links on to the real one.
    """
    prefixes = (Path(sys.prefix), Path(sys.base_prefix))
    paths = {*prefixes, *(prefix.resolve() for prefix in prefixes)}
    executable = Path(sys.executable)
    for _ in range(MAX_LINK_HOPS):
        paths.add(executable.parent)
        if not executable.is_symlink():
            break
        executable = Path(os.path.normpath(executable.parent / os.readlink(executable)))
    paths.add(Path(sys.executable).resolve().parent)
    return paths


def _landlock_rules(
    writable_fds: Sequence[int],
    readable_folders: Sequence[Path] = (),
    *,
    random_devices: bool = True,
    proc_filesystem: bool = True,
) -> list[tuple[str | int, int]]:
    """Return the paths (or open folders) a process under Landlock may use."""
    readable = [*SYSTEM_PATHS, *(str(path) for path in _python_paths())]
    if proc_filesystem:
        readable.append("/proc")
    readable += [str(folder) for folder in readable_folders]
    rules: list[tuple[str | int, int]] = [(path, landlock.READ) for path in readable]
    # Only the devices a program expects: the rest of /dev includes the
    # kernel log and disks, which root's uid could otherwise open.
    rules += [
        (device, landlock.READ_WRITE_FILES)
        for device in SANDBOX_DEVICES
        if os.path.exists(device) and (random_devices or device not in RANDOM_DEVICES)
    ]
    # multiprocessing makes its semaphores in /dev/shm.
    rules.append(("/dev/shm", landlock.ALL))
    rules += [(fd, landlock.ALL) for fd in writable_fds]
    return rules


def _read_child_pid(info_read: int, popen: subprocess.Popen[bytes]) -> int:
    """Read bwrap's --info-fd JSON for the pid of the sandbox's first process.

    bwrap writes it before it runs the command and closes the pipe; if bwrap
    fails first, the pipe closes empty and bwrap's own pid is used.
    """
    with os.fdopen(info_read, "rb") as info:
        data = info.read()
    try:
        pid = json.loads(data)["child-pid"]
    except (ValueError, KeyError, TypeError):
        return popen.pid
    return int(pid)


def _first_child(pid: int, timeout: float = CHILD_TIMEOUT) -> int:
    """Return the pid of the first child of `pid`: the code under bwrap's init.

    Signals go to the code itself, because bwrap's init does not pass them
    on. Returns `pid` when the child does not appear within `timeout` seconds
    or the kernel does not list children (CONFIG_PROC_CHILDREN).
    """
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = children_file.read_text().split()
        except OSError:
            return pid
        if children:
            return int(children[0])
        time.sleep(0.002)
    return pid


def _set_limits_function(
    limits: Limits,
    *,
    cgroups: Sequence[Path],
    landlock_rules: Sequence[tuple[str | int, int]] = (),
) -> Callable[[], None]:
    """Return the function the child runs before exec.

    It sets the limits, joins the cgroups and, given Landlock rules,
    restricts the child to them; as root it then also drops every
    capability. A failure to apply Landlock rules raises, so the code never
    starts less confined than the report states.
    """
    tasks: int | None = limits.tasks
    root = os.geteuid() == 0
    if root and landlock_rules and cgroups:
        # Under Landlock a root process keeps uid 0 and loses the capability
        # to exceed RLIMIT_NPROC, which counts every process of that uid: one
        # sandbox's process bomb would use up the others' count. The pids
        # cgroup caps each sandbox's processes on their own instead.
        tasks = None
    elif not root or landlock_rules:
        # The process count is per user: leave room for what already runs.
        tasks = limits.tasks + _count_own_processes()
    abi = landlock.abi_version() if landlock_rules else 0
    settings = [
        (resource.RLIMIT_AS, limits.address_space),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
        # No raising a thread's priority again once it lowered it: the timing
        # checks trust an event loop's wait for a CPU only at the default.
        (resource.RLIMIT_NICE, 0),
    ]
    if tasks is not None:
        settings.append((resource.RLIMIT_NPROC, tasks))
    parent = os.getpid()

    def set_limits() -> None:
        # First of all, so that the code never outlives a grader killed while
        # it starts. bwrap's --die-with-parent sets the same signal only once
        # bwrap runs, too late if the grader died before then.
        _die_with_parent(parent)
        for kind, value in settings:
            with contextlib.suppress(ValueError, OSError):
                _, hard = resource.getrlimit(kind)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                resource.setrlimit(kind, (value, value))
        for cgroup in cgroups:
            with contextlib.suppress(OSError):
                (cgroup / "cgroup.procs").write_text("0")
        # NOTE: without bwrap in between, a process the code starts in a new
        # session does not die with the grader. As root the engine kills
        # those through the cgroup; without root they live on.
        if landlock_rules:
            landlock.restrict_self(landlock_rules, abi=abi)
            if root:
                landlock.drop_capabilities()

    return set_limits


def _die_with_parent(parent: int) -> None:
    """Have this child killed when its parent ends, and exit if it already has.

    The signal is kept across exec, so bwrap or the code starts with it set.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        count += 1
    return count


def _make_cgroups(limits: Limits) -> list[Path]:
    """Make pids, memory and CPU cgroups (v1 or v2) where the machine allows it.

    The CPU cgroup keeps its default weight, that of one ordinary program.
    cgroup v1 needs a cpuacct cgroup as well to count the CPU time used.
    """
    prefix = os.environ.get(CGROUP_PREFIX_VARIABLE, CGROUP_PREFIX_DEFAULT)
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    made: list[Path] = []
    wanted: dict[str, dict[str, int]] = {
        "pids": {"pids.max": limits.tasks},
        "memory": {"memory.limit_in_bytes": limits.memory},
        "cpu": {},
        "cpuacct": {},
    }
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        # cgroup v2: one folder sets every limit. The cpu controller works in
        # it only once the root passes it on to its children.
        with contextlib.suppress(OSError):
            (CGROUP_ROOT / "cgroup.subtree_control").write_text("+cpu")
        folder = CGROUP_ROOT / name
        settings = {"pids.max": limits.tasks, "memory.max": limits.memory}
        return [folder] if _make_cgroup(folder, settings) else []
    for controller, settings in wanted.items():
        folder = CGROUP_ROOT / controller / name
        if _make_cgroup(folder, settings):
            made.append(folder)
    return made


def _controls_cpu(cgroup: Path) -> bool:
    """Return True when `cgroup` has the cpu controller (cpu.shares or cpu.weight)."""
    return (cgroup / "cpu.shares").exists() or (cgroup / "cpu.weight").exists()


def _make_cgroup(folder: Path, settings: Mapping[str, int]) -> bool:
    try:
        folder.mkdir()
    except OSError:
        return False
    try:
        for setting, value in settings.items():
            (folder / setting).write_text(str(value))
    except OSError:
        with contextlib.suppress(OSError):
            folder.rmdir()
        return False
    return True


def _kill_cgroup(folder: Path) -> None:
    """SIGKILL every process left in a cgroup, a few rounds at most."""
    for _ in range(5):
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


def remove_cgroups(prefix: str) -> int:
    """Kill the processes in, and remove, every cgroup named `prefix`-*.

    Returns how many cgroups were removed. The engine calls this when a
    grader has ended, so a grader killed before it could clean up leaves
    neither processes nor cgroups behind.
    """
    folders = [*CGROUP_ROOT.glob(f"{prefix}-*"), *CGROUP_ROOT.glob(f"*/{prefix}-*")]
    return sum(_remove_cgroup(folder) for folder in folders)


def _remove_cgroup(folder: Path, attempts: int = 100) -> bool:
    """Kill what is left in a cgroup and remove it; False if it stays."""
    for _ in range(attempts):
        _kill_cgroup(folder)
        try:
            folder.rmdir()
        except FileNotFoundError:
            return False
        except OSError:
            # Killed processes leave the cgroup a moment after they die: the
            # rest of the sandbox exits after bwrap's init, which was waited for.
            time.sleep(0.01)
            continue
        return True
    return False


_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_MOVE = 8192
_MS_REC = 16384
_MS_PRIVATE = 1 << 18


def limit_folder_size(folder: Path, size: int = LIMITS_DEFAULT.folder_size) -> bool:
    """Move `folder` onto a tmpfs of `size` bytes that only this process tree can reach.

    The file size limit caps each file, not their number, so without this an
    app could fill the disk. The process first enters a mount namespace of its
    own, in which the tmpfs replaces the folder, with a copy of what it held.
    Learner code started afterwards inherits that namespace and gets "No
    space left on device" past `size`; the tmpfs goes when the last process
    in the namespace ends. Needs root on Linux; returns False, changing
    nothing, where that is not possible. Call it from the main thread before
    any learner code starts: the new namespace is the calling thread's.
    """
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        return False
    # Mounts made from here on must not reach the machine's namespace.
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    staging = folder.parent / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(mode=0o700)
    options = f"size={size},mode=0755".encode()
    if libc.mount(b"tmpfs", bytes(staging), b"tmpfs", _MS_NOSUID | _MS_NODEV, options):
        staging.rmdir()
        return False
    try:
        shutil.copytree(folder, staging, symlinks=True, dirs_exist_ok=True)
        shutil.copystat(folder, staging)
        if libc.mount(bytes(staging), bytes(folder), None, _MS_MOVE, None) != 0:
            raise OSError(ctypes.get_errno(), "moving the tmpfs onto the folder")
    except (OSError, shutil.Error):
        libc.umount2(bytes(staging), 2)  # MNT_DETACH
        staging.rmdir()
        return False
    staging.rmdir()
    return True
