"""Opening a run, once for every stage that writes one (sample, score).

    with open_run(out_dir, "sample", resume=..., command=..., announce=...) as opening:
        ...checks that need no model...
        backend = opening.load_engine(engine, settings, backend)   # resume checks, model load, manifest
        ...render prompts, check they fit...
        opening.record(design, inputs)                              # manifest (new runs) and input copies

Leaving the block by an error releases the run's lock and removes a folder this command made for
nothing; on success the caller owns ``opening.lock`` until its records are written.
"""

from __future__ import annotations

import platform
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .backends import Backend, load_backend
from .backends.checks import check_device
from .errors import UserError
from .run_config import DesignInputs, EngineConfig, RunDesign
from .run_folder import check_out_dir, check_requested_engine, check_resumed_engine, record_run, setting_up
from .run_lock import RunLock
from .store import settings_difference
from .version import __version__


class RunOpening:
    """A run folder claimed by one command: its lock, and the manifest when resuming."""

    def __init__(self, out_dir: Path, existing: dict[str, Any] | None, lock: RunLock, command: str,
                 announce: Callable[[str], None]):
        self.out_dir, self.existing, self.lock = out_dir, existing, lock
        self.command, self.announce = command, announce
        self.manifest: dict[str, Any] | None = None

    def load_engine(self, engine: EngineConfig, settings: dict[str, Any], backend: Backend | None = None) -> Backend:
        """Check a resume against the run (settings first, then the engine), load the backend (or take the
        one passed in) and build the manifest; ``settings`` gains the model revision, and the model a
        passed-in backend reports."""
        if backend is not None:
            settings["model"] = loaded_model(engine, backend)
        if self.existing is not None:
            old = {k: v for k, v in self.existing["settings"].items() if k in settings}
            difference = settings_difference(old, settings)
            if difference:
                raise UserError(f"--resume refused: setting {difference} differs from the run in {self.out_dir}; "
                                "use the original settings or a new --out")
            check_requested_engine(self.existing, engine.options, self.out_dir)
        backend = backend or load_checked_backend(engine, self.announce)
        settings["model_revision"] = backend.info.revision
        self.manifest = new_manifest(settings, backend, self.command)
        if self.existing is not None:
            check_resumed_engine(self.existing, self.manifest, self.out_dir)
        return backend

    def record(self, design: RunDesign, inputs: DesignInputs) -> None:
        """Write a new run's manifest and keep copies of the input files."""
        record_run(self.out_dir, self.manifest if self.existing is None else None, design.variants, inputs.scenario,
                   inputs.frame)


@contextmanager
def open_run(out_dir: Path, stage: str, *, resume: bool, command: str = "",
             announce: Callable[[str], None] = print) -> Iterator[RunOpening]:
    """Claim ``out_dir`` for ``stage`` (a new run, or ``resume`` an existing one) while the run is set up."""
    existing, lock = check_out_dir(out_dir, resume, stage, command, announce)
    with setting_up(out_dir, existing, lock):
        yield RunOpening(out_dir, existing, lock, command, announce)


def load_checked_backend(engine: EngineConfig, announce: Callable[[str], None]) -> Backend:
    """Load the run's backend once the checks that need no model have passed."""
    if engine.backend == "transformers":
        check_device(engine.options.get("device", "auto"))
    return load_backend(engine.model, engine.backend, announce=announce, **engine.options)


def loaded_model(engine: EngineConfig, backend: Backend) -> str:
    """The model a passed-in backend reports; base-vs-chat pairing uses this name, so a config naming
    another model is refused rather than recorded."""
    loaded = backend.info.model_id
    if engine.model is not None and engine.model != loaded:
        raise UserError(f"the config's model is {engine.model!r} but the backend passed in loaded {loaded!r}; "
                        f"set model={loaded!r} or leave it None")
    return loaded


def new_manifest(settings: dict[str, Any], backend: Backend, command: str) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "format": 1,
        "settings": settings,
        "model_kind": backend.info.extra.get("kind", "base"),
        "model_info": {"backend": backend.info.backend, **backend.info.extra},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"basepersona": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "command": command,
    }
