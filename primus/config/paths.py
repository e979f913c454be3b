"""Where config files live and how their paths are shown to users.

Presets are looked up inside ``<configs_root>/{modules,models,platforms}/``; a preset name may not leave its
folder (``../x.yaml``, absolute paths, symlinks pointing outside are refused) so an experiment can only pick
presets, never read arbitrary files through ``config:``/``model:``. ``extends:`` entries are ordinary paths
(relative to the declaring file, absolute allowed), as in Primus.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

from primus.errors import ConfigTypeError, PresetPathError, UnknownPresetError, did_you_mean, suggest

#: The package's own presets (modules/, models/, platforms/).
PACKAGE_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: Environment variable that points the loader at another configs tree.
CONFIGS_ROOT_ENV = "PRIMUS_CONFIGS_ROOT"
#: Extensions accepted on preset names; ``.yaml`` is appended when a name has neither.
YAML_SUFFIXES = (".yaml", ".yml")


def display_path(path: Path) -> str:
    """The portable path shown to users and stored in ``Origin.file``.

    Relative to the current directory when the file lies under it, ``primus/configs/...`` for the package's
    own presets, else absolute. Always with ``/`` separators.
    """
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        pass
    try:
        return "primus/configs/" + absolute.resolve().relative_to(PACKAGE_CONFIGS).as_posix()
    except ValueError:
        return absolute.as_posix()


def default_configs_root(env: Mapping[str, str] | None = None) -> Path:
    """``$PRIMUS_CONFIGS_ROOT`` when set and non-empty, else the package's ``primus/configs``."""
    source = os.environ if env is None else env
    value = source.get(CONFIGS_ROOT_ENV, "")
    return Path(value) if value else PACKAGE_CONFIGS


#: What ``exp_name`` must look like to be one folder name on every file system users have (POSIX, NTFS,
#: SMB, Lustre): no separators, quotes, spaces or control characters, not hidden, not an option.
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")
#: Longest accepted name (file systems allow 255 bytes; runs/<exp_name>/<hash> nests a little below it).
MAX_FOLDER_NAME = 200


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a folder name under runs/, or None when it can."""
    if len(name) > MAX_FOLDER_NAME:
        return f"is {len(name)} characters long, over the {MAX_FOLDER_NAME} a folder name may have here"
    if not _FOLDER_NAME.fullmatch(name):
        return "cannot be a folder name"
    return None


FOLDER_NAME_HINT = "use letters, digits and _ . + = - only (no spaces, quotes or control characters), not "
FOLDER_NAME_HINT += f"starting with '.', '-', '+' or '=', at most {MAX_FOLDER_NAME} characters"


def with_yaml_suffix(name: str) -> str:
    """``name`` with ``.yaml`` appended unless it already ends in ``.yaml``/``.yml``."""
    return name if name.endswith(YAML_SUFFIXES) else name + ".yaml"


def list_presets(folder: Path) -> list[str]:
    """Names of the YAML files under ``folder`` (relative, ``/``-separated, sorted); empty when no folder."""
    if not folder.is_dir():
        return []
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.suffix in YAML_SUFFIXES
    )


#: Most folder entries read to suggest a name: a missing absolute path may name a huge folder (NFS, Lustre).
MAX_SUGGESTION_ENTRIES = 10_000


def list_yaml_files(folder: Path) -> list[str]:
    """Names of the YAML files directly in ``folder`` (not below it), sorted; empty when no such folder.

    Reads at most :data:`MAX_SUGGESTION_ENTRIES` entries, so a suggestion never walks a file system.
    """
    names: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_SUGGESTION_ENTRIES:
                    break
                if entry.name.endswith(YAML_SUFFIXES):
                    names.append(entry.name)
    except OSError:
        return []
    return sorted(names)


def list_subfolders(folder: Path) -> list[str]:
    """Names of the folders directly under ``folder`` (sorted); empty when no folder."""
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if path.is_dir())


def _entries(folder: Path) -> frozenset[str]:
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def resolve_preset(
    folder: Path,
    name: object,
    *,
    what: str,
    file: str,
    line: int,
    key: str,
    candidates: list[str] | None = None,
) -> Path:
    """The file for preset ``name`` inside ``folder``.

    ``what`` names the preset kind in messages ("module preset", "model preset", "platform"); ``file``,
    ``line`` and ``key`` locate the ``config:``/``model:`` entry. ``candidates`` are extra names tried in
    order after ``name`` itself (e.g. ``platform_<name>.yaml``). Raises ConfigTypeError (not a string),
    PresetPathError (escapes the folder) or UnknownPresetError (not found, with close matches).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigTypeError(
            f"{what} must be a file name like 'pre_trainer.yaml', got {name!r}",
            file=file,
            line=line,
            key=key,
            value=name,
        )
    searched = display_path(folder) + "/"
    pure = PurePosixPath(name)
    if pure.is_absolute() or PureWindowsPath(name).is_absolute() or ".." in pure.parts or "\\" in name:
        raise PresetPathError(
            f"{what} '{name}' must name a file inside {searched}",
            file=file,
            line=line,
            key=key,
            value=name,
            hint=f"give just the file name, e.g. '{pure.name}'",
        )
    for candidate in [with_yaml_suffix(name)] + [with_yaml_suffix(extra) for extra in candidates or []]:
        path = folder / candidate
        # Exact lookup also on a case-insensitive file system (macOS, Windows), where is_file() would
        # accept qwen3_8B.yaml for qwen3_8b.yaml: the name must be the directory entry's, letter for letter.
        if path.is_file() and path.name in _entries(path.parent):
            try:
                path.resolve().relative_to(folder.resolve())
            except ValueError:
                raise PresetPathError(
                    f"{what} '{name}' is a link that leads outside {searched}",
                    file=file,
                    line=line,
                    key=key,
                    value=name,
                    hint="copy the file into the folder instead of linking it",
                ) from None
            return path
    available = list_presets(folder)
    wanted = with_yaml_suffix(name)
    other_case = [candidate for candidate in available if candidate.lower() == wanted.lower()]
    if other_case:
        # Lookup stays exact (Primus's is, and a case-insensitive file system would hide the mistake).
        raise UnknownPresetError(
            f"no {what} '{name}' in {searched}: names are case-sensitive and the file there is "
            f"'{other_case[0]}'",
            file=file,
            line=line,
            key=key,
            value=name,
            searched=searched,
            suggestions=other_case,
            hint=f"write '{other_case[0]}'",
        )
    matches = suggest(wanted, available)
    if matches:
        hint = did_you_mean(matches)
    elif available:
        shown = ", ".join(available[:12]) + (" ..." if len(available) > 12 else "")
        hint = f"available: {shown}"
    else:
        hint = f"{searched} has no presets; is the configs root right? (set {CONFIGS_ROOT_ENV})"
    raise UnknownPresetError(
        f"no {what} '{name}' in {searched}",
        file=file,
        line=line,
        key=key,
        value=name,
        searched=searched,
        suggestions=matches,
        hint=hint,
    )
