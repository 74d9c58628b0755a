"""Crash replay, after ALICE (Pillai et al., "All File Systems Are Not Created Equal", OSDI 2014):
what a power cut in the middle of a workload can leave on disk, and whether the app survives it.

``record`` runs a workload (any command: a build, an activation, an addition, a take-down) in a
subprocess under strace and turns the trace into the ordered file-system operations it made under
one directory (the data dir): mkdir, create, rename, unlink, write (offset and bytes), truncate,
fsync. The bytes of every write come from the trace itself (``-xx -s``), so a replayed write puts
back exactly what was written then, not what the file held at the end.

``crash_states`` gives, for every crash point k (the power goes off before operation k), the
states the abstract persistence model of ALICE allows: an operation is durable once an fsync of
its file (data: write, truncate) or of its directory (names: mkdir, create, rename, unlink)
followed it before k; any other may be lost, independently of its neighbours (reordering). Of the
2^n combinations the replay takes six per point: unsynced data lost or kept, times unsynced names
lost, kept, or all lost but the latest one (a later rename survives while the creates before it
do not). The metadata database is SQLite in WAL mode with ``synchronous=FULL``: its own files
(database, -wal, -journal) keep every operation before k in order, i.e. SQLite's durability is
taken as given and the question is only whether our files were durable before its commit. The
-shm file is SQLite's shared-memory index, rebuilt from the WAL on open, so states leave it out.

``replay`` writes each distinct state at the data dir's own path (the database stores absolute
paths to version directories) and calls the test's check on it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

TRACED_CALLS = (
    "openat,open,creat,write,pwrite64,writev,pwritev,pwritev2,lseek,fsync,fdatasync,"
    "rename,renameat,renameat2,unlink,unlinkat,rmdir,mkdir,mkdirat,ftruncate,truncate,"
    "link,linkat,symlink,symlinkat,sendfile,copy_file_range"
)
UNSUPPORTED = {"link", "linkat", "symlink", "symlinkat", "sendfile", "copy_file_range"}
NAME_OPS = {"mkdir", "create", "rename", "unlink"}
DATA_OPS = {"write", "truncate"}
SQLITE_SHM = "-shm"
# Bytes strace shows of one write (its largest -s); a longer write fails the parse.
MAX_WRITE = 2**28


@dataclass(frozen=True)
class Op:
    """One file-system operation under the root: ``inode`` is the file or directory it acts on;
    a name operation also says which directory entry (``parent``/``name``, and for a rename the
    destination ``to_parent``/``to_name``)."""

    kind: str  # mkdir, create, rename, unlink, write, truncate, fsync
    inode: int
    parent: int = -1
    name: str = ""
    to_parent: int = -1
    to_name: str = ""
    offset: int = 0
    data: bytes = b""
    database: bool = False  # an operation on the SQLite database's own files
    directory: bool = False  # the inode is a directory (it stays one whatever else is lost)

    def directories(self) -> tuple[int, ...]:
        """The directories whose fsync makes this name operation durable."""
        return (self.parent,) if self.kind != "rename" else (self.parent, self.to_parent)

    def describe(self) -> str:
        target = f"{self.name}->{self.to_name}" if self.kind == "rename" else self.name
        size = f" {self.offset}+{len(self.data)}" if self.kind == "write" else ""
        return f"{self.kind} #{self.inode} {target}{size}"


@dataclass
class Tree:
    """A file-system state: directory inode -> entries (name -> inode); file inode -> bytes.
    Inode 0 is the root."""

    entries: dict[int, dict[str, int]] = field(default_factory=lambda: {0: {}})
    contents: dict[int, bytearray] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Tree:
        tree = cls()
        numbers = {root: 0}
        for directory, subdirectories, files in os.walk(root):
            parent = numbers[Path(directory)]
            for name in sorted(subdirectories):
                path = Path(directory) / name
                if path.is_symlink():
                    raise NotImplementedError(f"symlink {path}: not modelled")
                numbers[path] = tree.new_inode(directory=True)
                tree.entries[parent][name] = numbers[path]
            for name in sorted(files):
                inode = tree.new_inode(directory=False)
                tree.contents[inode] = bytearray((Path(directory) / name).read_bytes())
                tree.entries[parent][name] = inode
        return tree

    def copy(self) -> Tree:
        return Tree(
            {d: dict(e) for d, e in self.entries.items()},
            {i: bytearray(c) for i, c in self.contents.items()},
        )

    def new_inode(self, *, directory: bool) -> int:
        inode = max([*self.entries, *self.contents]) + 1
        if directory:
            self.entries[inode] = {}
        else:
            self.contents[inode] = bytearray()
        return inode

    def lookup(self, parts: Sequence[str]) -> int | None:
        inode: int | None = 0
        for part in parts:
            if inode not in self.entries:
                return None
            inode = self.entries[inode].get(part)
        return inode

    def apply(self, op: Op) -> None:
        """Apply ``op`` whatever else was kept or lost: names point at inodes, data goes to the
        inode (reachable or not)."""
        if op.directory:
            self.entries.setdefault(op.inode, {})
        if op.kind == "mkdir":
            self.entries.setdefault(op.parent, {})[op.name] = op.inode
        elif op.kind == "create":
            self.contents.setdefault(op.inode, bytearray())
            self.entries.setdefault(op.parent, {})[op.name] = op.inode
        elif op.kind == "rename":
            if self.entries.get(op.parent, {}).get(op.name) == op.inode:
                del self.entries[op.parent][op.name]
            self.entries.setdefault(op.to_parent, {})[op.to_name] = op.inode
        elif op.kind == "unlink":
            if self.entries.get(op.parent, {}).get(op.name) == op.inode:
                del self.entries[op.parent][op.name]
        elif op.kind == "write":
            content = self.contents.setdefault(op.inode, bytearray())
            end = op.offset + len(op.data)
            if len(content) < end:
                content.extend(b"\0" * (end - len(content)))
            content[op.offset : end] = op.data
        elif op.kind == "truncate":
            content = self.contents.setdefault(op.inode, bytearray())
            size = op.offset
            del content[size:]
            content.extend(b"\0" * (size - len(content)))

    def files(self) -> Iterator[tuple[Path, int]]:
        """(relative path, inode) of everything reachable from the root, parents first."""
        stack: list[tuple[Path, int]] = [(Path(), 0)]
        while stack:
            path, directory = stack.pop()
            for name, inode in sorted(self.entries.get(directory, {}).items()):
                yield path / name, inode
                if inode in self.entries:
                    stack.append((path / name, inode))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path, inode in self.files():
            if path.name.endswith(SQLITE_SHM):
                continue
            content = self.contents.get(inode)
            body = b"/" if content is None else hashlib.sha256(content).digest()
            digest.update(str(path).encode() + b"\0" + body)
        return digest.hexdigest()

    def write_to(self, root: Path) -> None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for path, inode in self.files():
            if path.name.endswith(SQLITE_SHM):
                continue
            if inode in self.entries:
                (root / path).mkdir()
            else:
                (root / path).write_bytes(bytes(self.contents.get(inode, b"")))


@dataclass
class Trace:
    """A recorded workload: the state before it and the operations it made under ``root``."""

    root: Path
    before: Tree
    ops: list[Op]

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for op in self.ops:
            counted[op.kind] = counted.get(op.kind, 0) + 1
        return counted


def record(
    command: Sequence[str], root: Path, database: Path, env: dict[str, str], cwd: Path
) -> Trace:
    """Run ``command`` under strace and return what it did under ``root`` (the data dir);
    ``database`` is the SQLite file, whose own files are kept in order on replay."""
    before = Tree.read(root)
    log = root.parent / f"{root.name}.strace"
    finished = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-y",
            "-xx",
            "-s",
            str(MAX_WRITE),
            "-o",
            str(log),
            "-e",
            f"trace={TRACED_CALLS}",
            *command,
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if finished.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{finished.stderr[-3000:]}")
    ops = _Parser(root, database, before.copy()).parse(log.read_text())
    log.unlink()
    return Trace(root, before, ops)


# --------------------------------------------------------------------------------------------------
# Crash states and their replay
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashState:
    point: int  # operations before this index had been issued
    variant: str
    tree: Tree


VARIANTS = (
    ("data", "names"),
    ("data", "no names"),
    ("data", "last name"),
    ("no data", "names"),
    ("no data", "no names"),
    ("no data", "last name"),
)


def synced_at(ops: Sequence[Op]) -> list[int]:
    """For each operation, the index of the fsync that makes it durable (len(ops) if none)."""
    never = len(ops)
    result = [never] * len(ops)
    next_fsync: dict[int, int] = {}
    for index in range(len(ops) - 1, -1, -1):
        op = ops[index]
        if op.kind == "fsync":
            next_fsync[op.inode] = index
        elif op.kind in DATA_OPS:
            result[index] = next_fsync.get(op.inode, never)
        elif op.kind in NAME_OPS:
            result[index] = max(next_fsync.get(d, never) for d in op.directories())
    return result


def crash_states(trace: Trace, points: Sequence[int] | None = None) -> Iterator[CrashState]:
    """Every distinct state (by content) a power cut at one of ``points`` (default: each of
    0..len(ops)) may leave, per ``VARIANTS``."""
    ops = trace.ops
    durable_at = synced_at(ops)
    seen: set[str] = set()
    for point in range(len(ops) + 1) if points is None else points:
        unsynced = [
            i
            for i in range(point)
            if ops[i].kind != "fsync" and not ops[i].database and durable_at[i] >= point
        ]
        unsynced_names = [i for i in unsynced if ops[i].kind in NAME_OPS]
        for data, names in VARIANTS:
            lost = set(unsynced)
            if data == "data":
                lost -= {i for i in unsynced if ops[i].kind in DATA_OPS}
            if names == "names":
                lost -= set(unsynced_names)
            elif names == "last name" and unsynced_names:
                lost.discard(unsynced_names[-1])
            tree = trace.before.copy()
            for index in range(point):
                if index not in lost and ops[index].kind != "fsync":
                    tree.apply(ops[index])
            fingerprint = tree.fingerprint()
            if fingerprint not in seen:
                seen.add(fingerprint)
                yield CrashState(point, f"{data}, {names}", tree)


@dataclass
class ReplayReport:
    states: int = 0  # distinct states written and judged
    checked: int = 0  # of them, the ones ``check`` ran on (the others were equivalent to one)
    failures: list[str] = field(default_factory=list)


def replay(
    trace: Trace,
    check: Callable[[Path], None],
    points: Sequence[int] | None = None,
    equivalent: Callable[[Path], object] = lambda root: object(),
) -> ReplayReport:
    """Write every crash state at ``trace.root`` and run ``check`` on it; an exception from
    ``check`` is a failure, recorded with the crash point, the variant and the operation there.
    States with the same ``equivalent(root)`` (what ``check`` reads, e.g. the database's rows
    rather than its bytes) share one verdict."""
    report = ReplayReport()
    verdicts: dict[object, str | None] = {}
    for state in crash_states(trace, points):
        state.tree.write_to(trace.root)
        report.states += 1
        key = equivalent(trace.root)
        if key not in verdicts:
            report.checked += 1
            try:
                check(trace.root)
                verdicts[key] = None
            except Exception as error:
                verdicts[key] = f"{type(error).__name__}: {error}"
        if verdicts[key] is not None:
            at = trace.ops[state.point].describe() if state.point < len(trace.ops) else "end"
            report.failures.append(
                f"crash before op {state.point} ({at}), {state.variant}: {verdicts[key]}"
            )
    return report


# --------------------------------------------------------------------------------------------------
# Parsing strace -f -y -xx output
# --------------------------------------------------------------------------------------------------

_LINE = re.compile(r"^(\d+) +(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+= (-?\d+)(.*)$", re.S)
_STRING = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
_FD = re.compile(r"^(-?\d+|AT_FDCWD)<((?:\\x[0-9a-f]{2})*)>$")


def _bytes(escaped: str) -> bytes:
    return bytes.fromhex(escaped.replace("\\x", ""))


def _text(escaped: str) -> str:
    return _bytes(escaped).decode("utf-8", "surrogateescape")


def _split_arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments (``-xx`` escapes every byte of strings and paths,
    so commas and brackets outside strings are syntax)."""
    parts, depth, current = [], 0, []
    for character in text:
        if character in "[{":
            depth += 1
        elif character in "]}":
            depth -= 1
        if character == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    if current:
        parts.append("".join(current).strip())
    return parts


class _Parser:
    """Follows the trace on a model of the whole state so that paths resolve to inodes."""

    def __init__(self, root: Path, database: Path, tree: Tree) -> None:
        self.root = root
        self.database_names = {database.name + suffix for suffix in ("", "-wal", "-journal")}
        self.database_names.add(database.name + SQLITE_SHM)
        self.tree = tree
        self.positions: dict[int, int] = {}
        self.appending: set[int] = set()
        self.ops: list[Op] = []

    def parse(self, text: str) -> list[Op]:
        pending: dict[str, str] = {}
        for line in text.splitlines():
            matched = _LINE.match(line)
            if not matched:
                continue
            pid, rest = matched.groups()
            if rest.endswith("<unfinished ...>"):
                pending[pid] = rest.removesuffix("<unfinished ...>")
                continue
            if rest.startswith("<..."):
                rest = pending.pop(pid) + rest.split("resumed>", 1)[1]
            call = _CALL.match(rest)
            if call and int(call.group(3)) >= 0:
                self.handle(call.group(1), _split_arguments(call.group(2)), int(call.group(3)))
        return self.ops

    # paths ------------------------------------------------------------------------------------

    def inside(self, path: str) -> list[str] | None:
        """The path's parts under the root, or None if it is elsewhere."""
        relative = os.path.relpath(os.path.normpath(path), self.root)
        if relative == ".":
            return []
        if relative.startswith(".."):
            return None
        return relative.split(os.sep)

    def at(self, directory: str, path: str) -> list[str] | None:
        """Parts of ``path`` (a decoded string argument) relative to a dirfd argument."""
        if not path.startswith("/"):
            fd = _FD.match(directory)
            path = os.path.join(_text(fd.group(2)) if fd else "", path)
        return self.inside(path)

    def fd(self, argument: str) -> tuple[int, list[str] | None]:
        matched = _FD.match(argument)
        if not matched:
            return -1, None
        path = _text(matched.group(2))
        if path.endswith(" (deleted)"):
            return int(matched.group(1)), None
        return int(matched.group(1)), self.inside(path)

    def emit(self, op: Op, parts: Sequence[str]) -> None:
        database = bool(parts) and len(parts) == 1 and parts[0] in self.database_names
        op = replace(op, database=database)
        self.ops.append(op)
        self.tree.apply(op)

    # calls ------------------------------------------------------------------------------------

    def handle(self, call: str, args: list[str], result: int) -> None:
        if call in ("open", "openat", "creat"):
            self.open(call, args, result)
        elif call in ("write", "pwrite64", "writev", "pwritev", "pwritev2"):
            self.write(call, args, result)
        elif call == "lseek":
            fd, parts = self.fd(args[0])
            if parts is not None:
                self.positions[fd] = result
        elif call in ("fsync", "fdatasync"):
            _, parts = self.fd(args[0])
            self.with_inode(parts, lambda inode: Op("fsync", inode))
        elif call in ("ftruncate", "truncate"):
            parts = self.fd(args[0])[1] if call == "ftruncate" else self.at("", self.s(args[0]))
            size = int(args[1])
            self.with_inode(parts, lambda inode: Op("truncate", inode, offset=size))
        elif call in ("mkdir", "mkdirat"):
            parts = self.at(args[0], self.s(args[1])) if call == "mkdirat" else self.path(args[0])
            self.name_op(parts, "mkdir", new_directory=True)
        elif call in ("unlink", "unlinkat", "rmdir"):
            parts = self.at(args[0], self.s(args[1])) if call == "unlinkat" else self.path(args[0])
            self.name_op(parts, "unlink")
        elif call in ("rename", "renameat", "renameat2"):
            if call == "rename":
                source, target = self.path(args[0]), self.path(args[1])
            else:
                source = self.at(args[0], self.s(args[1]))
                target = self.at(args[2], self.s(args[3]))
            self.rename(source, target)
        elif call in UNSUPPORTED and any(self.touches(argument) for argument in args):
            raise NotImplementedError(f"{call} under {self.root} is not modelled: {args}")

    def s(self, argument: str) -> str:
        matched = _STRING.fullmatch(argument)
        return _text(matched.group(1)) if matched else ""

    def path(self, argument: str) -> list[str] | None:
        return self.at("", self.s(argument))

    def touches(self, argument: str) -> bool:
        fd = _FD.match(argument)
        text = _text(fd.group(2)) if fd else self.s(argument)
        return text != "" and self.inside(text) is not None

    def with_inode(self, parts: list[str] | None, make: Callable[[int], Op]) -> None:
        if parts is None:
            return
        inode = self.tree.lookup(parts)
        if inode is not None:
            self.emit(make(inode), parts)

    def name_op(self, parts: list[str] | None, kind: str, *, new_directory: bool = False) -> None:
        if not parts:
            return
        parent = self.tree.lookup(parts[:-1])
        if kind == "mkdir" or kind == "create":
            inode = self.tree.new_inode(directory=new_directory)
        else:
            inode = self.tree.lookup(parts)
        if parent is not None and inode is not None:
            directory = inode in self.tree.entries
            self.emit(Op(kind, inode, parent, parts[-1], directory=directory), parts)

    def rename(self, source: list[str] | None, target: list[str] | None) -> None:
        if source is None or target is None:
            if (source is None) != (target is None):
                raise NotImplementedError(f"rename across {self.root}: {source} -> {target}")
            return
        inode, parent = self.tree.lookup(source), self.tree.lookup(source[:-1])
        to_parent = self.tree.lookup(target[:-1])
        if inode is None or parent is None or to_parent is None:
            return
        directory = inode in self.tree.entries
        self.emit(
            Op("rename", inode, parent, source[-1], to_parent, target[-1], directory=directory),
            target,
        )

    def open(self, call: str, args: list[str], result: int) -> None:
        if call == "openat":
            parts, flags = self.at(args[0], self.s(args[1])), args[2]
        else:
            parts = self.path(args[0])
            flags = "O_CREAT|O_WRONLY|O_TRUNC" if call == "creat" else args[1]
        if parts is None:
            return
        if "O_CREAT" in flags and self.tree.lookup(parts) is None:
            self.name_op(parts, "create")
        elif "O_TRUNC" in flags:
            self.with_inode(parts, lambda inode: Op("truncate", inode, offset=0))
        self.positions[result] = 0
        if "O_APPEND" in flags:
            self.appending.add(result)
        else:
            self.appending.discard(result)

    def write(self, call: str, args: list[str], written: int) -> None:
        fd, parts = self.fd(args[0])
        if parts is None:
            return
        if call in ("writev", "pwritev", "pwritev2"):
            data = b"".join(_bytes(m.group(1)) for m in _STRING.finditer(args[1]))
        else:
            data = _bytes(_STRING.fullmatch(args[1]).group(1))
        if len(data) < written:
            raise NotImplementedError(f"a write of {written} bytes is longer than {MAX_WRITE}")
        data = data[:written]
        inode = self.tree.lookup(parts)
        if inode is None:
            return
        if call.startswith("pwrite"):
            offset = int(args[3])
        elif fd in self.appending:
            offset = len(self.tree.contents.get(inode, b""))
        else:
            offset = self.positions.get(fd, 0)
            self.positions[fd] = offset + len(data)
        self.emit(Op("write", inode, offset=offset, data=data), parts)
