"""Grid files: TOML in, a validated list of :class:`TrialConfig` out, before anything runs.

A grid file has up to three parts::

    [sweep]                       # optional: about the sweep itself
    name = "depth_vs_activation"
    store = "depth_vs_activation.sqlite"   # relative to the output folder (default: <name>.sqlite)

    [base]                        # values shared by every trial
    dataset = "digits"
    epochs = 20

    [grid]                        # the Cartesian product of these lists
    act = ["relu", "tanh", { name = "leaky_relu", negative_slope = 0.2 }]
    depth = [2, 10, 30]
    seed = [0, 1, 2]

``[[grid]]`` (an array of tables) gives the union of several products, each over ``[base]``.
An activation may be a name or a table with ``name`` and its parameters. Every key, value and
combination is checked - unknown key, unknown activation, negative width, an init that cannot take
``sigma_w2``... - and the first problem is one line naming the key. Paths (``store``) must be
relative and stay inside the output folder. The file is only parsed as data (``tomllib``).
"""

from __future__ import annotations

import difflib
import itertools
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from actlab.sweep.config import ConfigError, TrialConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Grid", "expand", "load_grid", "parse_grid", "safe_path"]

_SECTIONS = ("sweep", "base", "grid")
_SWEEP_KEYS = ("name", "description", "store")
_FIELDS = tuple(f.name for f in fields(TrialConfig))


@dataclass
class Grid:
    """A parsed grid: its trials (deduplicated, in file order) and where its store goes."""

    configs: list[TrialConfig]
    name: str
    store: Path
    description: str = ""
    source: str = ""
    sweep: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[TrialConfig]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)

    def __getitem__(self, i: int) -> TrialConfig:
        return self.configs[i]

    def varying(self) -> dict[str, list[Any]]:
        """The config fields that take more than one value, with their values in order."""
        out: dict[str, list[Any]] = {}
        for f in _FIELDS:
            seen: list[Any] = []
            for c in self.configs:
                v = getattr(c, f)
                if v not in seen:
                    seen.append(v)
            if len(seen) > 1:
                out[f] = seen
        return out


def _unknown(key: str, valid: tuple[str, ...], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}{key}: unknown key{hint}; valid: {', '.join(valid)}")


def safe_path(relative: str, out_dir: str | os.PathLike[str], key: str = "store") -> Path:
    """``out_dir / relative``, refused unless it stays inside ``out_dir`` (no absolute paths,
    no ``..`` escape, no symlink pointing out)."""
    if not isinstance(relative, str) or not relative.strip():
        raise ConfigError(f"[sweep] {key}: {relative!r} is invalid; valid: a relative file path")
    p = Path(relative)
    if p.is_absolute() or p.drive:
        raise ConfigError(f"[sweep] {key}: {relative!r} is absolute; valid: a path relative to the output "
                          "folder (choose another folder with --out, or --store)")
    root = Path(out_dir).resolve()
    full = (root / p).resolve()
    if full != root and root not in full.parents:
        raise ConfigError(f"[sweep] {key}: {relative!r} leaves the output folder {root}; valid: a path "
                          "inside it")
    return full


def _split_act(value: Any, where: str) -> dict[str, Any]:
    """``act`` as a name or ``{name = ..., **params}`` -> fields ``act`` (+ ``act_params``)."""
    if isinstance(value, Mapping):
        d = dict(value)
        if "name" not in d:
            raise ConfigError(f"{where}act: {value!r} has no 'name'; valid: a catalog name or a table like "
                              "{ name = \"leaky_relu\", negative_slope = 0.2 }")
        name = d.pop("name")
        return {"act": name, "act_params": d}
    return {"act": value}


def expand(base: Mapping[str, Any], grid: Mapping[str, Any] | None, where: str = "") -> list[dict[str, Any]]:
    """The Cartesian product of ``grid``'s lists over ``base``, as config dicts."""
    for k in base:
        if k not in _FIELDS:
            raise _unknown(k, _FIELDS, f"{where}[base] ")
    axes: list[tuple[str, list[Any]]] = []
    for k, v in (grid or {}).items():
        if k not in _FIELDS:
            raise _unknown(k, _FIELDS, f"{where}[grid] ")
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}[grid] {k}: {v!r} is invalid; valid: a non-empty list of values")
        axes.append((k, v))
    out = []
    for combo in itertools.product(*(v for _, v in axes)):
        d = {**base, **{k: v for (k, _), v in zip(axes, combo)}}
        if isinstance(d.get("act"), Mapping):
            act = _split_act(d["act"], where)
            params = d.get("act_params") or {}
            if not isinstance(params, Mapping):
                raise ConfigError(f"{where}act_params: {params!r} is invalid; valid: a table")
            d["act"], d["act_params"] = act["act"], {**params, **act["act_params"]}
        out.append(d)
    return out


def parse_grid(doc: Mapping[str, Any], out_dir: str | os.PathLike[str] = ".", source: str = "<grid>") -> Grid:
    """Validate a parsed grid document (see the module docstring) into a :class:`Grid`."""
    where = f"{source}: "
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}a grid must be a table")
    for k in doc:
        if k not in _SECTIONS:
            raise _unknown(k, _SECTIONS, where)
    sweep = dict(doc.get("sweep", {}))
    for k in sweep:
        if k not in _SWEEP_KEYS:
            raise _unknown(k, _SWEEP_KEYS, f"{where}[sweep] ")
    name = sweep.get("name") or Path(source).stem or "sweep"
    if not isinstance(name, str):
        raise ConfigError(f"{where}[sweep] name: {name!r} is invalid; valid: a string")
    base = doc.get("base", {})
    if not isinstance(base, Mapping):
        raise ConfigError(f"{where}[base]: must be a table of config values")
    grids = doc.get("grid", {})
    blocks = grids if isinstance(grids, list) else [grids]
    dicts: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            raise ConfigError(f"{where}[grid]: must be a table of lists (or [[grid]] tables)")
        loc = f"{where}[[grid]] #{i + 1} " if len(blocks) > 1 else where
        dicts += expand(base, block, loc if len(blocks) > 1 else where)
    configs: list[TrialConfig] = []
    seen: set[str] = set()
    for d in dicts:
        try:
            c = TrialConfig.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{where}{e}") from None
        except (TypeError, ValueError) as e:  # pragma: no cover - TrialConfig raises ConfigError
            raise ConfigError(f"{where}{e}") from None
        if c.hash not in seen:
            seen.add(c.hash)
            configs.append(c)
    if not configs:
        raise ConfigError(f"{where}the grid has no trials")
    store = safe_path(sweep.get("store", f"{name}.sqlite"), out_dir)
    if any(c.watch for c in configs):
        from actlab.sweep.trial import watch_available

        if not watch_available():
            raise ConfigError(f"{where}watch: true needs actlab.watch, which this installation does not have")
    return Grid(configs, name, store, str(sweep.get("description", "")), source, sweep)


def load_grid(path: str | os.PathLike[str], out_dir: str | os.PathLike[str] = ".") -> Grid:
    """Read and validate a TOML grid file; the store path is resolved inside ``out_dir``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no grid file at {p}")
    if p.suffix.lower() not in (".toml",):
        raise ConfigError(f"{p}: unsupported grid format {p.suffix!r}; valid: .toml")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return parse_grid(doc, out_dir, source=str(p))
