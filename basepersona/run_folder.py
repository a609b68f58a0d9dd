"""The run folder a stage writes into: claiming it, checking a resume against it, keeping its inputs.

``check_out_dir`` takes the run's lock and refuses to overwrite a run, adopt records of unknown
origin or write where it cannot; ``setting_up`` undoes a folder made for nothing when setting up
fails; the engine checks keep a resume from mixing samplers; ``store_inputs`` keeps copies of the
frame, scenario and variant files in the run so it can be shared or resumed without them.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from .errors import UserError
from .run_lock import LOCK_FILE, RunBusy, RunLock, lock_run
from .store import MANIFEST, disk_full, engine_settings, foreign_records, read_manifest, settings_difference, write_manifest

if TYPE_CHECKING:
    from .frames import Frame
    from .scenario import Scenario


def input_files(variants: Sequence[str], scenario: Scenario, frame: Frame) -> dict[str, list[Path]]:
    """The files whose templates render this run's prompts, by kind."""
    from .variants import load_variant

    return {"frame": [frame.path], "scenario": [scenario.path] if scenario.path else [],
            "variants": [load_variant(spec).path for spec in variants]}


def template_files(variants: Sequence[str], scenario: Scenario, frame: Frame) -> list[str]:
    files = [path for paths in input_files(variants, scenario, frame).values() for path in paths]
    return [path.read_text(encoding="utf-8", errors="replace") for path in files]


INPUTS_DIR = "inputs"  # the run's own copies of its frame, scenario and variant files


def store_inputs(out_dir: Path, variants: Sequence[str], scenario: Scenario, frame: Frame) -> None:
    """Copy the input files into the run, so that it can be shared or resumed without them."""
    for kind, paths in input_files(variants, scenario, frame).items():
        for path in paths:
            target = out_dir / INPUTS_DIR / kind / path.name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(path, target)
            except OSError as exc:
                target.unlink(missing_ok=True)
                if not disk_full(exc):
                    raise
                raise UserError(f"cannot copy {path.name} into {target.parent}: {exc.strerror} (disk full or file-size "
                                "limit); no samples were drawn yet; free some space and run the command again") from None


def check_out_dir(out_dir: Path, resume: bool, stage: str = "sample", command: str = "",
                   announce: Callable[[str], None] = print) -> tuple[dict[str, Any] | None, RunLock]:
    """(existing manifest when resuming, the run's lock); refuses to overwrite a run, to adopt records
    it did not make, to share the run with a second writer, or to write where it cannot."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a directory for the run")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_run(out_dir, stage, command=command, announce=announce)
    except RunBusy:
        raise
    except OSError as exc:
        raise UserError(f"cannot write to --out {out_dir}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        manifest_path = out_dir / MANIFEST
        if manifest_path.exists() and not resume:
            raise UserError(f"{out_dir} already holds a run; pass --resume to complete it or choose another --out")
        if resume and not manifest_path.exists():
            raise UserError(f"nothing to resume: {out_dir} holds no run (drop --resume to start one)")
        if not manifest_path.exists():
            foreign = foreign_records(out_dir)
            if foreign:
                raise UserError(f"{out_dir} holds {', '.join(foreign)} but no {MANIFEST}, so nobody knows how those "
                                "records were made; choose an empty --out (or move them away) instead of adopting them")
            return None, lock
        return read_manifest(out_dir), lock
    except BaseException:
        lock.release()
        raise


@contextmanager
def setting_up(out_dir: Path, existing: dict[str, Any] | None, lock: RunLock) -> Iterator[None]:
    """When setting up a run fails, release its lock and remove a folder this command made for nothing."""
    try:
        yield
    except BaseException:
        lock.release()
        if existing is None:
            remove_if_unused(out_dir)
        raise


def record_run(out_dir: Path, new_manifest: dict[str, Any] | None, variants: Sequence[str], scenario: Scenario,
               frame: Frame) -> None:
    """Write a new run's manifest, and keep copies of the input files in every run."""
    if new_manifest is not None:
        write_manifest(out_dir, new_manifest)
    store_inputs(out_dir, variants, scenario, frame)


def remove_if_unused(out_dir: Path) -> None:
    """Remove a run folder this command created when setting up failed before it held anything."""
    try:
        if {entry.name for entry in out_dir.iterdir()} <= {LOCK_FILE}:
            (out_dir / LOCK_FILE).unlink(missing_ok=True)
            out_dir.rmdir()
    except OSError:
        pass  # not ours to clean up, or already gone


def engine_difference(existing: dict[str, Any], manifest: dict[str, Any]) -> str | None:
    """The first engine setting (dtype, device class, engine version, ...) that differs, else None."""
    return settings_difference({"engine": engine_settings(existing)}, {"engine": engine_settings(manifest)})


def check_requested_engine(existing: dict[str, Any], options: dict[str, Any], out_dir: Path) -> None:
    """Refuse an explicit --dtype/--device that contradicts the run before the model loads (the full
    engine comparison follows once it has)."""
    info = existing.get("model_info")
    recorded = info if isinstance(info, dict) else {}
    for key in ("dtype", "device"):
        asked, had = options.get(key), recorded.get(key)
        if not isinstance(asked, str) or asked == "auto" or not isinstance(had, str):
            continue
        if asked.split(":")[0] != had.split(":")[0]:
            raise UserError(f"--resume refused: the run in {out_dir} was sampled with {key} {had}, not {asked}; "
                            f"samples from two {key}s would be mixed. Resume with --{key} {had} or start a new --out")


def check_resumed_engine(existing: dict[str, Any], manifest: dict[str, Any], out_dir: Path) -> None:
    if existing["settings"].get("model_revision") != manifest["settings"]["model_revision"]:
        raise UserError(f"--resume refused: the model's weights changed (run has {existing['settings'].get('model_revision')}, "
                        f"now {manifest['settings']['model_revision']})")
    difference = engine_difference(existing, manifest)
    if difference:
        raise UserError(f"--resume refused: {difference} differs from the run in {out_dir}, so new samples would "
                        "come from another sampler; resume with the original engine settings or start a new --out")
