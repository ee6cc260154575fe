"""What the commands share: option types, help texts, output checks, messages and tables.

Only the standard library is imported here: the parser is built from this module, and
``metarouter --version`` or ``metarouter <command> --help`` must not pay for the scientific stack.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROG = "metarouter"

#: What the demo's numbers mean; shown in ``demo --help`` and written to ``summary.md``. The
#: scale is the library's convention, ``run_protocol``'s default normaliser.
DEMO_METRIC_NOTE = (
    "Efficiency gain = true gold-standard gain of the test queries a router sends to the "
    "primary model minus that of sending the same number of random queries, divided by the "
    "mean gold-standard gain of the data times the test size, as in the paper (0 = random "
    "routing, higher is better); AUC is its mean over shares 0.2-0.8."
)

_SEED_MAX = 2**32 - 1  # numpy's RandomState accepts seeds in [0, 2**32 - 1]

#: Upper bounds of the options that size an allocation or a loop: a typo such as ``--splits
#: 1000000000000`` is refused at parse time instead of running out of memory (numpy) or for ever.
MAX_LOOPS = 100_000  # --splits, --n-simulations
MAX_SAMPLES = 10_000_000  # --n-samples of the synthetic data
MAX_FEATURES = 10_000  # --n-features of the synthetic data
N_JOBS_PER_CPU = 4  # --n-jobs may oversubscribe the CPUs at most this many times


# -- option types (argparse ``type=``): the message names the option through argparse ------------
def _int(text: str, rule: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None


def at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """Return an argparse type accepting integers ``>= minimum`` (and ``<= maximum`` if given).

    Parameters
    ----------
    minimum : int
        The smallest value accepted.
    maximum : int, optional
        The largest value accepted; None: no upper bound.

    Returns
    -------
    callable
        ``str -> int``, raising ``argparse.ArgumentTypeError`` with the rule and the value.

    Examples
    --------
    >>> at_least(2)("5")
    5
    >>> at_least(1, 10)("10")
    10
    """
    rule = f"an int >= {minimum}" if maximum is None else f"an int between {minimum} and {maximum}"

    def parse(text: str) -> int:
        value = _int(text, rule)
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {value}")
        return value

    return parse


def at_most(maximum: int) -> Callable[[str], int]:
    """Return an argparse type accepting integers ``<= maximum``; the library checks the minimum.

    Parameters
    ----------
    maximum : int
        The largest value accepted.

    Returns
    -------
    callable
        ``str -> int``, raising ``argparse.ArgumentTypeError`` with the rule and the value.

    Examples
    --------
    >>> at_most(100)("-3")
    -3
    """
    rule = f"an int <= {maximum}"

    def parse(text: str) -> int:
        value = _int(text, rule)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {value}")
        return value

    return parse


def seed(text: str) -> int:
    """Parse a ``--random-state`` value: an integer seed in ``[0, 2**32 - 1]``.

    Examples
    --------
    >>> seed("7")
    7
    """
    rule = "an int between 0 and 2**32 - 1"
    value = _int(text, rule)
    if not 0 <= value <= _SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {value}")
    return value


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def n_jobs(text: str) -> int:
    """Parse a ``--n-jobs`` value: a non-zero integer (``-1``: all cores, joblib's convention).

    Negative values count back from the number of CPUs, as in joblib (``-2``: all but one);
    positive values may exceed the CPUs at most `N_JOBS_PER_CPU` times, since every worker is
    a process that imports the scientific stack and ``--n-jobs 100000`` would start as many.

    Examples
    --------
    >>> n_jobs("-1")
    -1
    """
    rule = "a non-zero int (-1: all cores)"
    value = _int(text, rule)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be {rule}; got 0")
    cpus = _cpu_count()
    if value > N_JOBS_PER_CPU * cpus:
        raise argparse.ArgumentTypeError(
            f"must be at most {N_JOBS_PER_CPU * cpus} ({N_JOBS_PER_CPU} x the {cpus} CPU(s) "
            f"this process may use; -1 uses them all); got {value}"
        )
    return value


# -- outputs and progress -----------------------------------------------------------------------
def output_dir(args: argparse.Namespace) -> Path:
    """Return ``--out`` as a directory path, checked (not created) before any work is done.

    An existing ``--out`` must be a directory this process can write in; a missing one must be
    creatable (its nearest existing ancestor is a writable directory).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options, with ``out``.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If ``--out`` is an existing non-directory, or cannot be written or created.
    """
    text = str(args.out)
    _not_empty(text, "`--out`")
    out = Path(text)
    try:
        info = os.stat(out)
    except FileNotFoundError:
        _check_creatable(out, "`--out`", text)
        return out
    except NotADirectoryError:
        parent = _file_ancestor(out)
        where = f"{str(parent)!r} is a file, not a directory" if parent else "not a directory"
        raise ValueError(f"`--out` {text!r} cannot be created: {where}.") from None
    except OSError as exc:
        raise ValueError(f"`--out` {text!r} cannot be used: {_reason(exc)}.") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(
            f"`--out` must be a directory; got an existing {_kind(info.st_mode)} {text!r}."
        )
    _check_writable_dir(out, "`--out`", text)
    return out


# -- paths: what a path is, said before it is opened -------------------------------------------
def _kind(mode: int) -> str:
    """Name the kind of file of an ``os.stat`` mode, for messages."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _reason(exc: OSError) -> str:
    """Say why an ``os.stat`` or ``open`` failed, in words (no errno number)."""
    if exc.errno == errno.ELOOP:
        return "it is a loop of symbolic links"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    return exc.strerror or str(exc)


def _not_empty(text: str, name: str) -> None:
    """Refuse an empty path: ``Path("")`` is the current directory, which nobody typed."""
    if not text.strip():
        raise ValueError(f"{name} must be a path; got the empty string {text!r}.")


def _file_ancestor(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a directory, if any."""
    for parent in reversed(path.parents):
        try:
            if not stat.S_ISDIR(os.stat(parent).st_mode):
                return parent
        except OSError:
            return None
    return None


def check_input_file(text: str, name: str) -> Path:
    """Check that ``text`` names a readable regular file, without opening it.

    Only ``os.stat`` and ``os.access`` are used, so a named pipe (which would block until a
    writer comes), a device such as ``/dev/zero`` (which never ends) or a directory is named
    for what it is instead of being read.

    Parameters
    ----------
    text : str
        The path as the user typed it.
    name : str
        How the command line calls it (``"DATA"``, ``"`--data`"``), for the messages.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the path does not exist, is a broken symbolic link or a loop of them, is not a
        regular file, or cannot be read; the message names ``name`` and says what the path is.

    Examples
    --------
    >>> check_input_file("/", "DATA")
    Traceback (most recent call last):
    ...
    ValueError: DATA '/' is a directory, not a data file.
    """
    _not_empty(text, name)
    path = Path(text)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            target = os.readlink(path)
            raise ValueError(
                f"{name} {text!r} is a broken symbolic link (to {target!r}, which does not exist)."
            ) from None
        raise ValueError(f"{name} {text!r} does not exist (no such file).") from None
    except NotADirectoryError:
        parent = _file_ancestor(path)
        where = f": {str(parent)!r} is a file, not a directory" if parent else ""
        raise ValueError(f"{name} {text!r} does not exist{where}.") from None
    except OSError as exc:
        raise ValueError(f"{name} {text!r} cannot be read: {_reason(exc)}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{name} {text!r} is a directory, not a data file.")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"{name} {text!r} is a {_kind(info.st_mode)}, not a regular file; reading it could "
            "wait for a writer or never end: save the data to a file first."
        )
    if not os.access(path, os.R_OK):
        raise ValueError(f"{name} {text!r} cannot be read: permission denied.")
    return path


def _check_writable_dir(directory: Path, option: str, text: str) -> None:
    """Create and delete a temporary file in ``directory``: the one sure test of writing there."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ValueError(
            f"{option} {text!r} cannot be written: cannot create files in {str(directory)!r} "
            f"({_reason(exc)})."
        ) from None


def _check_creatable(path: Path, option: str, text: str) -> None:
    """Check that the missing ``path`` can be created (as a file or a directory tree)."""
    for ancestor in path.absolute().parents:
        try:
            info = os.stat(ancestor)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ValueError(f"{option} {text!r} cannot be created: {_reason(exc)}.") from None
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(
                f"{option} {text!r} cannot be created: {str(ancestor)!r} is a "
                f"{_kind(info.st_mode)}, not a directory."
            )
        _check_writable_dir(ancestor, option, text)
        return


def check_output_file(text: str, option: str) -> Path:
    """Check, before any work is done, that the file ``text`` can be written.

    A missing file's nearest existing ancestor must be a directory this process can write in
    (missing directories are created when the file is written). An existing path must not be a
    directory, nor a named pipe that no process reads (writing to it would wait for ever);
    a character device such as ``/dev/null`` or ``/dev/stdout`` is accepted.

    Parameters
    ----------
    text : str
        The path as the user typed it.
    option : str
        The option that gave it (``"--out"``), for the messages.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the file cannot be written; the message names the option and says why.
    """
    _not_empty(text, option)
    path = Path(text)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        _check_creatable(path, option, text)
        return path
    except NotADirectoryError:
        parent = _file_ancestor(path)
        where = f"{str(parent)!r} is a file, not a directory" if parent else "not a directory"
        raise ValueError(f"{option} {text!r} cannot be created: {where}.") from None
    except OSError as exc:
        raise ValueError(f"{option} {text!r} cannot be written: {_reason(exc)}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{option} must be a file path; got the directory {text!r}.")
    if stat.S_ISFIFO(info.st_mode):
        try:  # opening a pipe without a reader for writing fails at once with O_NONBLOCK
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise ValueError(
                    f"{option} {text!r} is a named pipe (FIFO) that no process reads; writing "
                    "to it would wait for ever."
                ) from None
            raise ValueError(f"{option} {text!r} cannot be written: {_reason(exc)}.") from None
    elif stat.S_ISREG(info.st_mode) and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {text!r} cannot be written: permission denied.")
    return path


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into one naming the option and the file.

    Parameters
    ----------
    path : Path
        The file being written.
    option : str
        The option that gave it.

    Yields
    ------
    None
    """
    try:
        yield
    except OSError as exc:
        raise OSError(f"could not write {option} {str(path)!r}: {_reason(exc)}.") from exc


def announce(args: argparse.Namespace, data: Any) -> None:
    """Say on stderr, unless ``--quiet``, which protocol run is about to start."""
    if not args.quiet:
        print(
            f"Running {args.splits} splits of {data.name} (n={len(data)}) ...",
            file=sys.stderr,
            flush=True,
        )


def show(text: str = "") -> None:
    """Print ``text`` on stdout; if the reader has gone (``metarouter ... | head``), stop printing.

    The command goes on and exits with its own status: a closed pipe is not an error of the
    run (the files are written), and stdout is pointed at ``os.devnull`` so that nothing else
    (nor the interpreter's flush at exit) reports a broken pipe.

    Parameters
    ----------
    text : str, default=""
        What to print (a newline is added).
    """
    if getattr(sys.stdout, "_metarouter_closed", False):
        return
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = open(os.devnull, "w")  # stays open: it replaces stdout
        devnull._metarouter_closed = True  # type: ignore[attr-defined]
        try:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass  # not a real file descriptor (e.g. redirected in a test)
        sys.stdout = devnull


def list_written(paths: Sequence[Path]) -> None:
    """Print the files a command wrote, one per line."""
    show("\nWrote:")
    for path in paths:
        show(f"  {path}")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Lay out text cells as a GitHub markdown table.

    The first column holds the row labels and is left-aligned; the others hold numbers and are
    right-aligned. Cells are used as given (a ``|`` is escaped): format numbers before calling.

    Parameters
    ----------
    columns : sequence of str
        The header.
    rows : sequence of sequences of str
        The cells, one sequence per row, as long as ``columns``.

    Returns
    -------
    str
        The table, without a trailing newline.

    Examples
    --------
    >>> print(markdown_table(["method", "AUC"], [["pooled", "0.120"]]))
    | method |   AUC |
    |:-------|------:|
    | pooled | 0.120 |
    """
    table = [[cell.replace("|", r"\|") for cell in row] for row in (columns, *rows)]
    widths = [max(3, *(len(cell) for cell in column)) for column in zip(*table, strict=True)]

    def line(row: list[str]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "| " + " | ".join(cells) + " |"

    rule = [":" + "-" * (widths[0] + 1), *("-" * (w + 1) + ":" for w in widths[1:])]
    return "\n".join([line(table[0]), "|" + "|".join(rule) + "|", *map(line, table[1:])])


# -- errors -------------------------------------------------------------------------------------
def names_an_install_command(exc: ImportError) -> bool:
    """Whether ``exc`` is the library's "install this extra" error rather than a broken install.

    The library and the commands raise ImportError for a missing optional dependency with the
    ``pip install ...`` command in the message; any other ImportError is a bug or a broken
    environment and keeps its traceback.
    """
    return "pip install" in str(exc)


def one_line(
    exc: BaseException,
    args: argparse.Namespace,
    renamed: Mapping[str, str] | None = None,
    unexposed: Mapping[str, str] | None = None,
) -> str:
    r"""Put an error message on one line, naming parameters as the options the user typed.

    The library names parameters in backquotes (```n_gold```). Those that are options of the
    command become the option (```--n-gold```); ``renamed`` maps the library's names that differ
    from the option's (``{"n_splits": "`--splits`"}``). A parameter the command sets itself,
    with no option for it, is said to be so: ``unexposed`` maps it to what the user can do
    instead, and the message says that no option sets it.

    Parameters
    ----------
    exc : BaseException
        The error.
    args : argparse.Namespace
        The parsed options; their ``dest`` names are the library's parameter names.
    renamed : mapping of str to str, optional
        Library parameter name -> how the command line calls it.
    unexposed : mapping of str to str, optional
        Library parameter name -> a sentence saying what to do, for the parameters that no
        option of the command sets.

    Returns
    -------
    str

    Examples
    --------
    >>> args = argparse.Namespace(command="demo", n_gold=1)
    >>> one_line(ValueError("`n_gold` must be at least 2;\n got 1."), args)
    '`--n-gold` must be at least 2; got 1.'
    >>> args = argparse.Namespace(command="report")
    >>> one_line(ValueError("`k` must be 1; got 3."), args, unexposed={"k": "Use the API."})
    '`k` (set by `metarouter report` itself: no option sets it) must be 1; got 3. Use the API.'
    """
    message = " ".join(str(exc).split())
    names = {dest: f"`--{dest.replace('_', '-')}`" for dest in vars(args).keys() - {"command"}}
    names.update(renamed or {})
    for name, shown in names.items():
        message = message.replace(f"`{name}`", shown)
        if shown.startswith("`--"):  # `learner='x'` -> `--learner='x'`
            message = message.replace(f"`{name}=", f"{shown[:-1]}=")
    for name, advice in (unexposed or {}).items():
        found = re.search(rf"`{re.escape(name)}(=[^`]*)?`", message)
        if found:
            said = f"{found.group(0)} (set by `{PROG} {args.command}` itself: no option sets it)"
            message = message[: found.start()] + said + message[found.end() :]
            message += ("" if message.endswith((".", "!", "?")) else ".") + " " + advice
    return message


def unexposed(function: Any, advice: str, options: Sequence[str]) -> dict[str, str]:
    """Map each parameter of ``function`` that no option sets to ``advice``, for `one_line`.

    Parameters
    ----------
    function : callable
        A library function or class the command calls.
    advice : str
        What to do instead, e.g. "Call diagnose from Python to set it."
    options : sequence of str
        The parameters the command passes from its options (or sets from the data).

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> def f(x, *, k=3, random_state=None): ...
    >>> unexposed(f, "Use the API.", ["x", "random_state"])
    {'k': 'Use the API.'}
    """
    parameters = inspect.signature(function).parameters
    return {name: advice for name in parameters if name not in options}


def origin(exc: BaseException) -> str:
    """Name the module and line where ``exc`` was raised (its innermost traceback frame).

    Parameters
    ----------
    exc : BaseException
        An exception that was raised (it has a traceback).

    Returns
    -------
    str
        ``"module, line N"``, or ``""`` when the exception has no traceback.
    """
    innermost = _innermost(exc)
    if innermost is None:
        return ""
    return f"{innermost[0]}, line {innermost[1]}"


def raised_outside_package(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by a dependency rather than by this package's own checks."""
    innermost = _innermost(exc)
    return innermost is not None and not innermost[0].startswith("metarouter_econml")


def _innermost(exc: BaseException) -> tuple[str, int] | None:
    """The module name and line of the frame that raised ``exc``."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "?")), tb.tb_lineno
