"""A QA rule set from YAML: morphing rules first (they change the dataset and record each change), then checks.

The shipped default is ``simulator/defaults/qa-rules.yaml``; a department overrides it with its own file
(:func:`load_ruleset`). Errors in the file are :class:`~simulator.errors.ConfigError` naming file, line, field.
Statuses and actions are described in :mod:`simulator.nodes.qa.rules`.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import pydantic
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian

from simulator.errors import ConfigError
from simulator.nodes.qa.morph import Condition, CopyValue, DeleteElement, Morph, RegexReplace, SetValue, apply_all
from simulator.nodes.qa.reconcile import DEMOGRAPHICS, Reconciliation, WorklistLookup
from simulator.nodes.qa.rules import (
    IOD_ERROR,
    MAX_LENGTHS,
    Action,
    CharsetValid,
    PixelDataLength,
    RequiredAttributes,
    Rule,
    UidValues,
    Verdict,
    Violation,
    VrLength,
)
from simulator.yamlfile import RegexText, describe_validation_error, line_for, load_model, read_mapping, read_yaml

DEFAULT_RULES_FILE = "qa-rules.yaml"


def _keyword(value: str) -> str:
    if tag_for_keyword(value) is None:
        raise ValueError(f"'{value}' is not a DICOM keyword")
    return value


Keyword = Annotated[str, pydantic.AfterValidator(_keyword)]
Regex = RegexText


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RequiredConfig(_Model):
    enabled: bool = True
    action: Action = Action.REJECT
    patient: list[Keyword] = ["PatientID"]
    study: list[Keyword] = ["StudyInstanceUID"]
    series: list[Keyword] = ["SeriesInstanceUID", "Modality"]
    instance: list[Keyword] = ["SOPInstanceUID", "SOPClassUID"]

    def keywords(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.patient, *self.study, *self.series, *self.instance]))


class CheckConfig(_Model):
    enabled: bool = True
    action: Action = Action.REJECT


class VrLengthConfig(CheckConfig):
    max_lengths: dict[str, Annotated[int, pydantic.Field(gt=0)]] = {}

    @pydantic.field_validator("max_lengths")
    @classmethod
    def _known_vrs(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(MAX_LENGTHS))
        if unknown:
            raise ValueError(f"unknown VR(s) {unknown}; known: {', '.join(MAX_LENGTHS)}")
        return value


class DciodvfyConfig(_Model):
    enabled: bool = False
    action: Action = Action.QUARANTINE
    path: str = "dciodvfy"
    timeout: Annotated[float, pydantic.Field(gt=0)] = 60.0


class WorklistConfig(_Model):
    """Reconciliation against the worklist; it runs only when the node has a worklist to ask
    (``radsim serve qa --worklist AET@HOST:PORT``, or a department's RIS / PACS worklist)."""

    unmatched: Action = Action.QUARANTINE
    unavailable: Action = Action.QUARANTINE
    keywords: list[Keyword] = list(DEMOGRAPHICS)
    cache_s: Annotated[float, pydantic.Field(ge=0)] = 30.0


class _MorphBase(_Model):
    name: str | None = None
    when: dict[Keyword, Regex] = {}


class SetConfig(_MorphBase):
    op: Literal["set"]
    keyword: Keyword
    value: str


class CopyConfig(_MorphBase):
    op: Literal["copy"]
    source: Keyword = pydantic.Field(alias="from")
    target: Keyword = pydantic.Field(alias="to")


class DeleteConfig(_MorphBase):
    op: Literal["delete"]
    keyword: Keyword


class ReplaceConfig(_MorphBase):
    op: Literal["replace"]
    keyword: Keyword
    pattern: Regex
    replacement: str


MorphConfig = Annotated[SetConfig | CopyConfig | DeleteConfig | ReplaceConfig, pydantic.Field(discriminator="op")]


class RuleSetConfig(_Model):
    """The YAML file's schema; see ``simulator/defaults/qa-rules.yaml`` for a commented example."""

    morph: list[MorphConfig] = []
    required: RequiredConfig = RequiredConfig()
    uid_syntax: CheckConfig = CheckConfig()
    vr_length: VrLengthConfig = VrLengthConfig()
    charset: CheckConfig = CheckConfig()
    pixel_data: CheckConfig = CheckConfig()
    dciodvfy: DciodvfyConfig = DciodvfyConfig()
    worklist: WorklistConfig = WorklistConfig()


_ERROR_LINE = re.compile(r"^Error\b")
_ELEMENT = re.compile(r"Element=<([A-Za-z0-9]+)>")


@dataclass(frozen=True)
class Dciodvfy:
    """Full IOD validation: dciodvfy (dicom3tools) on a temporary Part 10 file; each "Error" line is a violation."""

    executable: str
    action: Action = Action.QUARANTINE
    timeout: float = 60.0
    name: str = "dciodvfy"

    def check(self, ds: Dataset) -> list[Violation]:
        with tempfile.TemporaryDirectory(prefix="radsim-qa-") as tmp:
            path = Path(tmp) / "instance.dcm"
            try:
                _write_part10(ds, path)
            except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
                return [Violation(self.name, "", f"IOD: not writable as Part 10: {exc}", IOD_ERROR, self.action)]
            try:
                result = subprocess.run([self.executable, str(path)], capture_output=True, text=True,
                                        timeout=self.timeout, check=False, errors="replace")
            except subprocess.TimeoutExpired:
                return [Violation(self.name, "", f"dciodvfy timed out after {self.timeout:g} s", IOD_ERROR,
                                  self.action)]
        out = []
        for line in (result.stderr + result.stdout).splitlines():
            if not _ERROR_LINE.match(line):
                continue
            found = _ELEMENT.search(line)
            keyword = found.group(1) if found else ""
            text = line.removeprefix("Error").lstrip(" -")
            out.append(Violation(self.name, keyword, f"IOD: {text}", IOD_ERROR, self.action))
        return out


def _write_part10(ds: Dataset, path: Path) -> None:
    clone = copy.copy(ds)
    meta = FileMetaDataset(getattr(ds, "file_meta", None) or FileMetaDataset())
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    clone.file_meta = meta
    dcmwrite(path, clone, enforce_file_format=True)


@dataclass(frozen=True)
class RuleSet:
    """Morphs then checks. ``evaluate`` changes ``ds`` in place when a morph applies."""

    morphs: tuple[Morph, ...] = ()
    checks: tuple[Rule, ...] = ()
    pixel: PixelDataLength | None = field(default_factory=PixelDataLength)
    source: str = "<built-in>"
    worklist: WorklistConfig = field(default_factory=WorklistConfig)
    reconcile: Reconciliation | None = None

    def with_worklist(self, lookup: WorklistLookup | None) -> RuleSet:
        """This rule set reconciling against ``lookup`` (with its ``worklist`` settings), or not at all (None)."""
        if lookup is None:
            return replace(self, reconcile=None)
        settings = self.worklist
        return replace(self, reconcile=Reconciliation(lookup, unmatched=settings.unmatched,
                                                      unavailable=settings.unavailable,
                                                      keywords=tuple(settings.keywords), cache_s=settings.cache_s))

    def evaluate(self, ds: Dataset, *, transfer_syntax: str | None = None) -> Verdict:
        """Apply the morphs to ``ds``, then run every check on the result.

        ``transfer_syntax`` (the one the instance arrived in) decides whether the Pixel Data length is checked;
        without it the file meta's is used, else the data is taken as native unless encapsulated.
        """
        changes = apply_all(self.morphs, ds)
        reconciled: list[Violation] = []
        if self.reconcile is not None:
            coerced, reconciled = self.reconcile.apply(ds)
            changes.extend(coerced)
        # The character set check looks first, while elements read from a file are still raw bytes (the other
        # checks decode them); violations are still listed in the configured order.
        found: dict[int, list[Violation]] = {}
        for index in sorted(range(len(self.checks)), key=lambda i: not isinstance(self.checks[i], CharsetValid)):
            found[index] = self.checks[index].check(ds)
        violations = [v for index in range(len(self.checks)) for v in found[index]]
        if self.pixel is not None:
            violations.extend(self.pixel.check(ds, transfer_syntax))
        return Verdict(tuple(reconciled + violations), tuple(changes))

    @classmethod
    def default(cls) -> RuleSet:
        """The shipped rule set, ``simulator/defaults/qa-rules.yaml``."""
        resource = resources.files("simulator.defaults").joinpath(DEFAULT_RULES_FILE)
        source = f"simulator/defaults/{DEFAULT_RULES_FILE}"
        data, lines = read_yaml(resource.read_text(encoding="utf-8"), source)
        try:
            config = RuleSetConfig.model_validate(data or {})
        except pydantic.ValidationError as exc:
            raise describe_validation_error(exc, source, lines) from None
        return from_config(config, source)

    @classmethod
    def from_config(cls, config: RuleSetConfig, source: str = "<built-in>") -> RuleSet:
        return from_config(config, source)


def _morph(item: SetConfig | CopyConfig | DeleteConfig | ReplaceConfig) -> Morph:
    when = Condition(dict(item.when))
    if isinstance(item, SetConfig):
        return SetValue(item.keyword, item.value, when, item.name or f"set {item.keyword}")
    if isinstance(item, CopyConfig):
        return CopyValue(item.source, item.target, when, item.name or f"copy {item.source} to {item.target}")
    if isinstance(item, DeleteConfig):
        return DeleteElement(item.keyword, when, item.name or f"delete {item.keyword}")
    return RegexReplace(item.keyword, item.pattern, item.replacement, when, item.name or f"replace in {item.keyword}")


def from_config(config: RuleSetConfig, source: str = "<built-in>") -> RuleSet:
    """Build the rule set; ConfigError when dciodvfy is enabled but cannot be found."""
    checks: list[Rule] = []
    if config.required.enabled:
        checks.append(RequiredAttributes(config.required.keywords(), action=config.required.action))
    if config.uid_syntax.enabled:
        checks.append(UidValues(action=config.uid_syntax.action))
    if config.vr_length.enabled:
        limits = {**MAX_LENGTHS, **config.vr_length.max_lengths}
        checks.append(VrLength(action=config.vr_length.action, max_lengths=tuple(limits.items())))
    if config.charset.enabled:
        checks.append(CharsetValid(action=config.charset.action))
    if config.dciodvfy.enabled:
        executable = shutil.which(config.dciodvfy.path)
        if executable is None:
            raise ConfigError(f"dciodvfy is enabled but '{config.dciodvfy.path}' was not found on PATH; install "
                              "dicom3tools or set dciodvfy.enabled: false", source=source, field="dciodvfy.path")
        checks.append(Dciodvfy(executable, config.dciodvfy.action, config.dciodvfy.timeout))
    pixel = PixelDataLength(action=config.pixel_data.action) if config.pixel_data.enabled else None
    return RuleSet(tuple(_morph(m) for m in config.morph), tuple(checks), pixel, source, config.worklist)


def load_ruleset(path: Path) -> RuleSet:
    """Load a rule set file; ConfigError names file, line and field for every mistake."""
    config = load_model(path, RuleSetConfig)
    try:
        return from_config(config, str(path))
    except ConfigError as exc:
        if exc.field is None or exc.line is not None:
            raise
        _, lines = read_mapping(path)
        loc = tuple(exc.field.split("."))
        raise ConfigError(exc.message, source=str(path), line=line_for(lines, loc), field=exc.field) from None

