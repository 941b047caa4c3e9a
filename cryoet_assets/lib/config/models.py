"""Pydantic models of the ingestion config: one class per object definition of the portal's config schema.

Class names, YAML keys, required keys, enum values and patterns follow the portal's ingestion config JSON
schema (draft 2019-09, `$defs`). Keys that are not snake_case identifiers (`ORCID`, annotation shapes such
as `OrientedPoint`) have a snake_case attribute and the YAML key as alias. Validated enum fields hold plain
strings. Numbers keep their YAML type (an int stays an int) so that metadata written from them is unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StrictStr,
)
from pydantic_core import PydanticCustomError

STRING_TEMPLATE = re.compile(r"^[ ]*\{[a-zA-Z0-9_-]+\}[ ]*$")
FLOAT_TEMPLATE = re.compile(r"^float[ ]*\{[a-zA-Z0-9_-]+\}[ ]*$")
INT_TEMPLATE = re.compile(r"^int[ ]*\{[a-zA-Z0-9_-]+\}[ ]*$")
_TEMPLATES = {
    "str": (STRING_TEMPLATE, "'{column}'"),
    "float": (FLOAT_TEMPLATE, "'float {column}'"),
    "int": (INT_TEMPLATE, "'int {column}'"),
}
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

FILTER_KEYS = frozenset({"exclude", "parent_filters"})


def _fail(reason: str) -> PydanticCustomError:
    # The reason goes through the context so that braces in it (templates) are never re-interpreted.
    return PydanticCustomError("config_value", "{reason}", {"reason": reason})


def describe(value: Any) -> str:
    """Short description of a YAML value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {text!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


class Number:
    """A schema `number`/`integer` field: booleans rejected, ints kept, optional bounds and templates.

    `template` says which formatted strings the field accepts in place of a number: `"float"` or
    `"int"` (only that form, as the schema's pattern says), or `"any"` (`{column}`, `int {column}` and
    `float {column}`). `"any"` is for the parts of a config where the portal's validator swaps formatted
    strings for placeholder numbers before it checks types (`tiltseries`, `tomograms` and every
    `sources` list, facts §1.7). Bounds apply to numbers; a template is checked against them once
    ingestion has filled it from the run map (`resolve`).
    """

    __slots__ = ("kind", "minimum", "maximum", "template")

    def __init__(
        self,
        kind: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        template: str | None = None,
    ) -> None:
        if kind not in ("integer", "number") or template not in (None, "float", "int", "any"):
            raise ValueError(f"bad Number({kind!r}, template={template!r})")
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.template = template

    def __get_pydantic_core_schema__(self, source_type: Any, handler: Any) -> Any:
        return PlainValidator(self.check).__get_pydantic_core_schema__(source_type, handler)

    @property
    def expected(self) -> str:
        """What the field accepts, for error messages."""
        text = "an integer" if self.kind == "integer" else "a number"
        if self.template == "any":
            return f"{text} or a template ('{{column}}', 'int {{column}}' or 'float {{column}}')"
        if self.template is not None:
            return f"{text} or a {_TEMPLATES[self.template][1]} template"
        return text

    def accepts_template(self, value: str) -> bool:
        """Is `value` a formatted string this field accepts in place of a number?"""
        if self.template == "any":
            return template_form(value) is not None
        return self.template is not None and bool(_TEMPLATES[self.template][0].match(value))

    def check(self, value: Any) -> Any:
        """Validate a config value: a number within bounds (an integral float kept as int for integers)."""
        if isinstance(value, str) and self.accepts_template(value):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"expected {self.expected}, got {describe(value)}")
        return self._bounded(value)

    def resolve(self, text: str) -> int | float:
        """The number a filled-in template gives this field: float for `number`, int for `integer`.

        Raises ValueError (the reason, without the field) when `text` is not such a number or is out
        of bounds.
        """
        stripped = text.strip()
        try:
            number: int | float = int(stripped) if stripped.lstrip("+-").isdigit() else float(stripped)
        except ValueError:
            article = "an integer" if self.kind == "integer" else "a number"
            raise ValueError(f"{text!r} is not {article}") from None
        try:
            value = self._bounded(number)
        except PydanticCustomError as exc:
            raise ValueError(exc.message()) from None
        return value if self.kind == "integer" else float(value)

    def _bounded(self, value: int | float) -> int | float:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _fail(f"expected a finite number, got {value!r}")
            if self.kind == "integer":
                if not value.is_integer():
                    raise _fail(f"expected an integer, got {value!r}")
                value = int(value)
        if self.minimum is not None and value < self.minimum:
            raise _fail(f"must be at least {self.minimum}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise _fail(f"must be at most {self.maximum}, got {value!r}")
        return value

    def __repr__(self) -> str:
        return (
            f"Number({self.kind!r}, minimum={self.minimum!r}, maximum={self.maximum!r}, "
            f"template={self.template!r})"
        )


def scalar(
    kind: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    template: str | None = None,
) -> Number:
    """Validator of a schema `number`/`integer` (see `Number`)."""
    return Number(kind, minimum=minimum, maximum=maximum, template=template)


def template_form(value: str) -> str | None:
    """Which formatted string `value` is: "str" ({col}), "int" (int {col}), "float" (float {col}) or None."""
    for form, (regex, _) in _TEMPLATES.items():
        if regex.match(value):
            return form
    return None


def choice(*enums: type[Enum], template: bool) -> PlainValidator:
    """Validator of a value from any of `enums` (kept as a plain string), or else a `{column}` template."""
    allowed = [str(member.value) for enum in enums for member in enum]
    listed = ", ".join(repr(v) for v in allowed)
    expected = f"one of {listed}" + (" or a '{column}' template" if template else "")

    def check(value: Any) -> str:
        if isinstance(value, str) and (value in allowed or (template and STRING_TEMPLATE.match(value))):
            return value
        raise _fail(f"expected {expected}, got {describe(value)}")

    return PlainValidator(check)


def pattern(regex: str) -> AfterValidator:
    """Validator of a schema string `pattern` (JSON-schema semantics: the regex may match anywhere)."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise _fail(f"{describe(value)} does not match the pattern {regex}")
        return value

    return AfterValidator(check)


def _reject_null(value: Any) -> Any:
    if value is None:
        raise _fail("must not be null (leave the key out instead)")
    return value


NOT_NULL = AfterValidator(_reject_null)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise _fail(f"expected a date (YYYY-MM-DD), got the date-time {value.isoformat()}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise _fail(f"{describe(value)} is not a valid date: {exc}") from None
    raise _fail(f"expected a date (YYYY-MM-DD), got {describe(value)}")


DateValue = Annotated[date, BeforeValidator(_date)]


class ConfigModel(BaseModel):
    """Base of every config model: unknown keys rejected, YAML keys as aliases, enums as plain strings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)

    def yaml_data(self) -> dict[str, Any]:
        """This block as config data again: YAML keys, nulls left out, dates as ISO strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SourceEntry(ConfigModel):
    """One entry of a `sources` list: one finder, plus optional `exclude` and `parent_filters`."""

    def finders(self) -> list[tuple[str, Any]]:
        """Every finder set on this entry as (YAML key, value); a valid entry has exactly one."""
        found = []
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            value = getattr(self, name)
            if key not in FILTER_KEYS and value is not None:
                found.append((key, value))
        return found

    def finder(self) -> tuple[str, Any]:
        """The one finder of this entry as (YAML key, value), e.g. ("source_glob", SourceGlob(...))."""
        found = self.finders()
        if len(found) != 1:
            keys = ", ".join(key for key, _ in found) or "none"
            raise ValueError(f"a source entry needs exactly one finder, found {len(found)} ({keys})")
        return found[0]


ANNOTATION_OBJECT_ID_PATTERN = pattern(
    r"(^GO:[0-9]{7}$)|"
    r"(^UniProtKB:(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})$)|"
    r"(^UBERON:[0-9]{7}$)|"
    r"(^CHEBI:[0-9]+$)|"
    r"(^CDPO:[0-9]{7}$)|"
    r"(^CL:[0-9]{7}$)|"
    r"(^PDB-[0-9a-zA-Z]{4,8}$)"
)
AUTHOR_ORCID_PATTERN = pattern(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]$")
ANNOTATION_PUBLICATIONS_PATTERN = pattern(
    r"^(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+|PDB-[0-9a-zA-Z]{4,8})(\s*,\s*(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+|PDB-[0-9a-zA-Z]{4,8}))*$"
)
ASSAY_ID_PATTERN = pattern(r"^EFO:[0-9]{7}$")
CELL_COMPONENT_ID_PATTERN = pattern(r"^GO:[0-9]{7}$")
CELL_STRAIN_ID_PATTERN = pattern(
    r"(WBStrain[0-9]{8}$)|"
    r"(^NCBITaxon:[0-9]+$)|"
    r"(^CVCL_[A-Z0-9]{4,}$)|"
    r"(^CC-[0-9]{4}$)"
)
CELL_TYPE_ID_PATTERN = pattern(
    r"(^CL:[0-9]{7}$)|"
    r"(WBbt:[0-9]{7}$)|"
    r"(ZFA:[0-9]{7}$)|"
    r"(FBbt:[0-9]{8}$)|"
    r"(^UBERON:[0-9]{7}$)"
)
CROSS_REFERENCES_PUBLICATIONS_PATTERN = pattern(
    r"(^(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+(\s*,\s*(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+)*$)|"
    r"(^(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+(\s*,\s*(doi:)?10\.[0-9]{4,9}/[-._;()/:a-zA-Z0-9]+)*$)"
)
CROSS_REFERENCES_RELATED_DATABASE_ENTRIES_PATTERN = pattern(
    r"(^(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|PDB-[0-9a-zA-Z]{4,8})(\s*,\s*(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|PDB-[0-9a-zA-Z]{4,8}))*$)|"
    r"(^(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|PDB-[0-9a-zA-Z]{4,8})(\s*,\s*(EMPIAR-[0-9]{5}|EMD-[0-9]{4,5}|PDB-[0-9a-zA-Z]{4,8}))*$)"
)
DEVELOPMENT_STAGE_DETAILS_ID_PATTERN = pattern(
    r"(^unknown$)|"
    r"(WBls:[0-9]{7}$)|"
    r"(^UBERON:[0-9]{7}$)|"
    r"(HsapDv:[0-9]{7}$)|"
    r"(MmusDv:[0-9]{7}$)|"
    r"(ZFS:[0-9]{7}$)|"
    r"(FBdv:[0-9]{8}$)"
)
DISEASE_ID_PATTERN = pattern(r"(^MONDO:[0-9]{7}$)|(^PATO:[0-9]{7}$)")
TISSUE_DETAILS_ID_PATTERN = pattern(
    r"(^BTO:[0-9]{7}$)|"
    r"(^CL:[0-9]{7}$)|"
    r"(WBbt:[0-9]{7}$)|"
    r"(ZFA:[0-9]{7}$)|"
    r"(FBbt:[0-9]{8}$)|"
    r"(^UBERON:[0-9]{7}$)"
)
PICTURE_PATH_PATTERN = pattern(r"^(((https?|s3)://)|cryoetportal-rawdatasets-dev).*$")
TILT_SERIES_RELATED_EMPIAR_ENTRY_PATTERN = pattern(r"^EMPIAR-[0-9]+$")


class AlignmentFormatEnum(StrEnum):
    """Values of the schema enum `AlignmentFormatEnum`."""

    IMOD = "IMOD"
    ARETOMO3 = "ARETOMO3"


class AlignmentMethodTypeEnum(StrEnum):
    """Values of the schema enum `AlignmentMethodTypeEnum`."""

    FIDUCIAL_BASED = "fiducial_based"
    PATCH_TRACKING = "patch_tracking"
    PROJECTION_MATCHING = "projection_matching"
    SIMULATED = "simulated"
    UNDEFINED = "undefined"


class AlignmentTypeEnum(StrEnum):
    """Values of the schema enum `AlignmentTypeEnum`."""

    LOCAL = "LOCAL"
    GLOBAL = "GLOBAL"


class AnnotationFileShapeTypeEnum(StrEnum):
    """Values of the schema enum `AnnotationFileShapeTypeEnum`."""

    SEGMENTATION_MASK = "SegmentationMask"
    ORIENTED_POINT = "OrientedPoint"
    POINT = "Point"
    INSTANCE_SEGMENTATION = "InstanceSegmentation"
    GLOBAL_CAPTION = "GlobalCaption"
    ANNOTATION_CAPTION = "AnnotationCaption"


class AnnotationFileSourceEnum(StrEnum):
    """Values of the schema enum `AnnotationFileSourceEnum`."""

    DATASET_AUTHOR = "dataset_author"
    COMMUNITY = "community"
    PORTAL_STANDARD = "portal_standard"


class AnnotationMethodLinkTypeEnum(StrEnum):
    """Values of the schema enum `AnnotationMethodLinkTypeEnum`."""

    DOCUMENTATION = "documentation"
    MODELS_WEIGHTS = "models_weights"
    OTHER = "other"
    SOURCE_CODE = "source_code"
    WEBSITE = "website"


class AnnotationMethodTypeEnum(StrEnum):
    """Values of the schema enum `AnnotationMethodTypeEnum`."""

    MANUAL = "manual"
    AUTOMATED = "automated"
    HYBRID = "hybrid"
    SIMULATED = "simulated"


class CaptionAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `CaptionAnnotationFileFormatEnum`."""

    SABER = "saber"


class CtfFormatEnum(StrEnum):
    """Values of the schema enum `CtfFormatEnum`."""

    CTFFIND = "CTFFIND"
    GCTF = "Gctf"
    IMOD = "IMOD"


class DepositionTypesEnum(StrEnum):
    """Values of the schema enum `DepositionTypesEnum`."""

    ANNOTATION = "annotation"
    DATASET = "dataset"
    TOMOGRAM = "tomogram"


class FiducialAlignmentStatusEnum(StrEnum):
    """Values of the schema enum `FiducialAlignmentStatusEnum`."""

    FIDUCIAL = "FIDUCIAL"
    NON_FIDUCIAL = "NON_FIDUCIAL"


class InstanceSegmentationAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `InstanceSegmentationAnnotationFileFormatEnum`."""

    TARDIS = "tardis"
    COPICK = "copick"


class OrientedPointAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `OrientedPointAnnotationFileFormatEnum`."""

    MOD = "mod"
    RELION3_STAR = "relion3_star"
    RELION4_STAR = "relion4_star"
    TOMOMAN_RELION_STAR = "tomoman_relion_star"
    COPICK = "copick"
    STOPGAP_STAR = "stopgap_star"


class PointAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `PointAnnotationFileFormatEnum`."""

    CSV = "csv"
    CSV_WITH_HEADER = "csv_with_header"
    TSV = "tsv"
    MOD = "mod"
    RELION3_STAR = "relion3_star"
    RELION4_STAR = "relion4_star"
    TOMOMAN_RELION_STAR = "tomoman_relion_star"
    COPICK = "copick"


class SampleTypeEnum(StrEnum):
    """Values of the schema enum `SampleTypeEnum`."""

    CELL_LINE = "cell_line"
    IN_SILICO = "in_silico"
    IN_VITRO = "in_vitro"
    ORGANELLE = "organelle"
    ORGANISM = "organism"
    ORGANOID = "organoid"
    OTHER = "other"
    PRIMARY_CELL_CULTURE = "primary_cell_culture"
    TISSUE = "tissue"
    VIRUS = "virus"


class TiltseriesCameraAcquireModeEnum(StrEnum):
    """Values of the schema enum `TiltseriesCameraAcquireModeEnum`."""

    COUNTING = "counting"
    SUPERRESOLUTION = "superresolution"
    LINEAR = "linear"
    CDS = "cds"


class TiltseriesCameraManufacturerEnum(StrEnum):
    """Values of the schema enum `TiltseriesCameraManufacturerEnum`."""

    GATAN = "Gatan"
    FEI = "FEI"
    TFS = "TFS"
    SIMULATED = "simulated"


class TiltseriesCameraModelFeiTfsEnum(StrEnum):
    """Values of the schema enum `TiltseriesCameraModelFeiTfsEnum`."""

    FALCON_IV = "FALCON IV"
    FALCON_4I = "FALCON 4i"


class TiltseriesCameraModelGatanEnum(StrEnum):
    """Values of the schema enum `TiltseriesCameraModelGatanEnum`."""

    K2 = "K2"
    K2_SUMMIT = "K2 SUMMIT"
    K3 = "K3"
    K3_BIOQUANTUM = "K3 BIOQUANTUM"
    ULTRA_CAM = "UltraCam"
    ULTRA_SCAN = "UltraScan"


class TiltseriesCameraModelSimulatedEnum(StrEnum):
    """Values of the schema enum `TiltseriesCameraModelSimulatedEnum`."""

    SIMULATED = "simulated"


class TiltseriesMicroscopeManufacturerEnum(StrEnum):
    """Values of the schema enum `TiltseriesMicroscopeManufacturerEnum`."""

    FEI = "FEI"
    TFS = "TFS"
    JEOL = "JEOL"
    SIMULATED = "SIMULATED"


class TomogramProcessingEnum(StrEnum):
    """Values of the schema enum `TomogramProcessingEnum`."""

    DENOISED = "denoised"
    FILTERED = "filtered"
    RAW = "raw"


class TomogramReconstructionMethodEnum(StrEnum):
    """Values of the schema enum `TomogramReconstructionMethodEnum`."""

    SART = "SART"
    FOURIER_SPACE = "Fourier Space"
    SIRT = "SIRT"
    WBP = "WBP"
    UNKNOWN = "Unknown"


class TomogramTypeEnum(StrEnum):
    """Values of the schema enum `TomogramTypeEnum`."""

    CANONICAL = "CANONICAL"
    UNKNOWN = "UNKNOWN"


class TriangularMeshAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `TriangularMeshAnnotationFileFormatEnum`."""

    OBJ = "obj"
    STL = "stl"
    VTK = "vtk"
    GLB = "glb"


class TriangularMeshAnnotationGroupFileFormatEnum(StrEnum):
    """Values of the schema enum `TriangularMeshAnnotationGroupFileFormatEnum`."""

    HFF = "hff"


class VolumeAnnotationFileFormatEnum(StrEnum):
    """Values of the schema enum `VolumeAnnotationFileFormatEnum`."""

    MRC = "mrc"
    ZARR = "zarr"


CameraDetailsAcquireModeValue = Annotated[
    TiltseriesCameraAcquireModeEnum | str,
    choice(TiltseriesCameraAcquireModeEnum, template=True),
]
CameraDetailsModelValue = Annotated[
    TiltseriesCameraModelFeiTfsEnum
    | TiltseriesCameraModelGatanEnum
    | TiltseriesCameraModelSimulatedEnum
    | str,
    choice(
        TiltseriesCameraModelFeiTfsEnum,
        TiltseriesCameraModelGatanEnum,
        TiltseriesCameraModelSimulatedEnum,
        template=True,
    ),
]
MicroscopeDetailsManufacturerValue = Annotated[
    TiltseriesMicroscopeManufacturerEnum | str,
    choice(TiltseriesMicroscopeManufacturerEnum, template=True),
]
TomogramFiducialAlignmentStatusValue = Annotated[
    FiducialAlignmentStatusEnum | str,
    choice(FiducialAlignmentStatusEnum, template=True),
]
TomogramReconstructionMethodValue = Annotated[
    TomogramReconstructionMethodEnum | str,
    choice(TomogramReconstructionMethodEnum, template=True),
]


class AlignmentOffset(ConfigModel):
    """The schema object `AlignmentOffset`."""

    x: Annotated[int | float | str, scalar("number", template="float")]
    y: Annotated[int | float | str, scalar("number", template="float")]
    z: Annotated[int | float | str, scalar("number", template="float")]


class AlignmentSize(ConfigModel):
    """The schema object `AlignmentSize`."""

    x: Annotated[int | float | str, scalar("number", template="float")]
    y: Annotated[int | float | str, scalar("number", template="float")]
    z: Annotated[int | float | str, scalar("number", template="float")]


class Alignment(ConfigModel):
    """The schema object `Alignment`."""

    affine_transformation_matrix: list[Any] | None = None
    alignment_type: Annotated[AlignmentTypeEnum | None, NOT_NULL] = None
    format: AlignmentFormatEnum
    is_portal_standard: StrictBool | None = None
    method_type: Annotated[AlignmentMethodTypeEnum | None, NOT_NULL] = None
    tilt_offset: Annotated[int | float, scalar("number")] | None = None
    volume_dimension: AlignmentSize | None = None
    volume_offset: AlignmentOffset | None = None
    x_rotation_offset: Annotated[int | str, scalar("integer", template="int")] | None = None


class AlignmentParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of an alignment source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class AlignmentParentFilters(ConfigModel):
    """`parent_filters` of an alignment source: `include`/`exclude` regexes per parent type."""

    exclude: AlignmentParent | None = None
    include: AlignmentParent | None = None


class DestinationGlob(ConfigModel):
    """The schema object `DestinationGlob`."""

    list_glob: StrictStr
    match_regex: StrictStr | None = None
    name_regex: StrictStr | None = None


class SourceGlob(ConfigModel):
    """The schema object `SourceGlob`."""

    list_glob: StrictStr
    match_regex: StrictStr | None = None
    name_regex: StrictStr | None = None


class SourceMultiGlob(ConfigModel):
    """The schema object `SourceMultiGlob`."""

    list_globs: Annotated[list[StrictStr], Field(min_length=1)]


class StandardLiteral(ConfigModel):
    """The schema object `StandardLiteral`."""

    value: Annotated[list[Any], Field(min_length=1)]


class AlignmentSource(SourceEntry):
    """One `sources` entry of an alignment block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: AlignmentParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class AlignmentEntity(ConfigModel):
    """One alignment block: its metadata and its `sources`."""

    metadata: Alignment | None = None
    sources: list[AlignmentSource] | None = None


class AnnotationConfidence(ConfigModel):
    """The schema object `AnnotationConfidence`."""

    ground_truth_used: StrictStr | None = None
    precision: Annotated[int | float, scalar("number", minimum=0, maximum=100)] | None = None
    recall: Annotated[int | float, scalar("number", minimum=0, maximum=100)] | None = None


class AnnotationMethodLinks(ConfigModel):
    """The schema object `AnnotationMethodLinks`."""

    custom_name: StrictStr | None = None
    link: StrictStr
    link_type: AnnotationMethodLinkTypeEnum


class AnnotationObject(ConfigModel):
    """The schema object `AnnotationObject`."""

    description: StrictStr | None = None
    id: Annotated[StrictStr, ANNOTATION_OBJECT_ID_PATTERN]
    name: StrictStr
    state: StrictStr | None = None


class AnnotationSourceFile(ConfigModel):
    """The schema object `AnnotationSourceFile`."""

    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None


class Author(ConfigModel):
    """The schema object `Author`."""

    orcid: Annotated[StrictStr, AUTHOR_ORCID_PATTERN] | None = Field(default=None, alias="ORCID")
    affiliation_address: StrictStr | None = None
    affiliation_identifier: StrictStr | None = None
    affiliation_name: StrictStr | None = None
    corresponding_author_status: StrictBool | None = None
    email: StrictStr | None = None
    kaggle_id: StrictStr | None = None
    name: StrictStr
    primary_author_status: StrictBool | None = None


class DateStamp(ConfigModel):
    """The schema object `DateStamp`."""

    deposition_date: DateValue
    last_modified_date: DateValue
    release_date: DateValue


class Annotation(ConfigModel):
    """The schema object `Annotation`."""

    annotation_ingest_id: StrictStr
    annotation_method: StrictStr
    annotation_object: AnnotationObject
    annotation_publications: Annotated[StrictStr, ANNOTATION_PUBLICATIONS_PATTERN] | None = None
    annotation_software: StrictStr | None = None
    authors: Annotated[list[Author], Field(min_length=1)]
    confidence: AnnotationConfidence | None = None
    dates: DateStamp
    files: list[AnnotationSourceFile] | None = None
    ground_truth_status: StrictBool | None = None
    is_curator_recommended: StrictBool | None = None
    method_links: list[AnnotationMethodLinks] | None = None
    method_type: AnnotationMethodTypeEnum
    object_count: Annotated[int, scalar("integer")] | None = None
    version: Annotated[int | float, scalar("number", minimum=0)] | None = None


class AnnotationCaptionFile(ConfigModel):
    """The schema object `AnnotationCaptionFile`."""

    companion_shape: StrictStr | None = None
    file_format: Annotated[CaptionAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None


class AnnotationGlobalCaptionFile(ConfigModel):
    """The schema object `AnnotationGlobalCaptionFile`."""

    file_format: Annotated[CaptionAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None


class AnnotationInstanceSegmentationFile(ConfigModel):
    """The schema object `AnnotationInstanceSegmentationFile`."""

    binning: Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None = None
    file_format: Annotated[InstanceSegmentationAnnotationFileFormatEnum | None, NOT_NULL] = None
    filter_value: StrictStr | None = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    mesh_source_path: StrictStr | None = None
    order: StrictStr | None = None


class AnnotationInstanceSegmentationMaskFile(ConfigModel):
    """The schema object `AnnotationInstanceSegmentationMaskFile`."""

    file_format: Annotated[VolumeAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    rescale: StrictBool | None = None


class AnnotationOrientedPointFile(ConfigModel):
    """The schema object `AnnotationOrientedPointFile`."""

    binning: Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None = None
    file_format: Annotated[OrientedPointAnnotationFileFormatEnum | None, NOT_NULL] = None
    filter_value: StrictStr | None = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    mesh_source_path: StrictStr | None = None
    order: StrictStr | None = None


class AnnotationParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of an annotation source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None
    voxel_spacing: list[StrictStr] | None = None


class AnnotationParentFilters(ConfigModel):
    """`parent_filters` of an annotation source: `include`/`exclude` regexes per parent type."""

    exclude: AnnotationParent | None = None
    include: AnnotationParent | None = None


class AnnotationPointFile(ConfigModel):
    """The schema object `AnnotationPointFile`."""

    binning: Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None = None
    columns: StrictStr | None = None
    delimiter: StrictStr | None = None
    file_format: Annotated[PointAnnotationFileFormatEnum | None, NOT_NULL] = None
    filter_value: StrictStr | None = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None


class AnnotationSegmentationMaskFile(ConfigModel):
    """The schema object `AnnotationSegmentationMaskFile`."""

    file_format: Annotated[VolumeAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None


class AnnotationSemanticSegmentationMaskFile(ConfigModel):
    """The schema object `AnnotationSemanticSegmentationMaskFile`."""

    file_format: Annotated[VolumeAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    mask_label: Annotated[int | str, scalar("integer", template="any")] | None = None
    rescale: StrictBool | None = None
    threshold: Annotated[int | float | str, scalar("number", template="any")] | None = None


class AnnotationTriangularMeshFile(ConfigModel):
    """The schema object `AnnotationTriangularMeshFile`."""

    file_format: Annotated[TriangularMeshAnnotationFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    scale_factor: Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None = None


class AnnotationTriangularMeshGroupFile(ConfigModel):
    """The schema object `AnnotationTriangularMeshGroupFile`."""

    file_format: Annotated[TriangularMeshAnnotationGroupFileFormatEnum | None, NOT_NULL] = None
    glob_string: StrictStr | None = None
    glob_strings: list[StrictStr] | None = None
    is_portal_standard: StrictBool | None = None
    is_visualization_default: StrictBool | None = None
    name: StrictStr | None = None
    scale_factor: Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None = None


class AnnotationSource(SourceEntry):
    """One `sources` entry of an annotation block."""

    annotation_caption: AnnotationCaptionFile | None = Field(default=None, alias="AnnotationCaption")
    global_caption: AnnotationGlobalCaptionFile | None = Field(default=None, alias="GlobalCaption")
    instance_segmentation: AnnotationInstanceSegmentationFile | None = Field(
        default=None, alias="InstanceSegmentation"
    )
    instance_segmentation_mask: AnnotationInstanceSegmentationMaskFile | None = Field(
        default=None, alias="InstanceSegmentationMask"
    )
    oriented_point: AnnotationOrientedPointFile | None = Field(default=None, alias="OrientedPoint")
    point: AnnotationPointFile | None = Field(default=None, alias="Point")
    segmentation_mask: AnnotationSegmentationMaskFile | None = Field(default=None, alias="SegmentationMask")
    semantic_segmentation_mask: AnnotationSemanticSegmentationMaskFile | None = Field(
        default=None, alias="SemanticSegmentationMask"
    )
    triangular_mesh: AnnotationTriangularMeshFile | None = Field(default=None, alias="TriangularMesh")
    triangular_mesh_group: AnnotationTriangularMeshGroupFile | None = Field(
        default=None, alias="TriangularMeshGroup"
    )
    exclude: list[StrictStr] | None = None
    parent_filters: AnnotationParentFilters | None = None


class AnnotationEntity(ConfigModel):
    """One annotation block: its metadata and its `sources`."""

    metadata: Annotation
    sources: Annotated[list[AnnotationSource], Field(min_length=1)]


class Assay(ConfigModel):
    """The schema object `Assay`."""

    id: Annotated[StrictStr, ASSAY_ID_PATTERN] | None = None
    name: StrictStr


class AuthoredEntity(ConfigModel):
    """Something with `authors`."""

    authors: Annotated[list[Author], Field(min_length=1)]


class CameraDetails(ConfigModel):
    """The schema object `CameraDetails`."""

    acquire_mode: CameraDetailsAcquireModeValue | None = None
    manufacturer: TiltseriesCameraManufacturerEnum
    model: CameraDetailsModelValue


class CellComponent(ConfigModel):
    """The schema object `CellComponent`."""

    id: Annotated[StrictStr, CELL_COMPONENT_ID_PATTERN] | None = None
    name: StrictStr


class CellStrain(ConfigModel):
    """The schema object `CellStrain`."""

    id: Annotated[StrictStr, CELL_STRAIN_ID_PATTERN] | None = None
    name: StrictStr


class CellType(ConfigModel):
    """The schema object `CellType`."""

    id: Annotated[StrictStr, CELL_TYPE_ID_PATTERN] | None = None
    name: StrictStr


class CollectionMetadataParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a collection metadata source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class CollectionMetadataParentFilters(ConfigModel):
    """`parent_filters` of a collection metadata source: `include`/`exclude` regexes per parent type."""

    exclude: CollectionMetadataParent | None = None
    include: CollectionMetadataParent | None = None


class CollectionMetadataSource(SourceEntry):
    """One `sources` entry of a collection metadata block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: CollectionMetadataParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class CollectionMetadataEntity(ConfigModel):
    """One collection metadata block: its metadata and its `sources`."""

    sources: Annotated[list[CollectionMetadataSource], Field(min_length=1)]


class Ctf(ConfigModel):
    """The schema object `Ctf`."""

    format: CtfFormatEnum


class CtfParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a ctf source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class CtfParentFilters(ConfigModel):
    """`parent_filters` of a ctf source: `include`/`exclude` regexes per parent type."""

    exclude: CtfParent | None = None
    include: CtfParent | None = None


class CtfSource(SourceEntry):
    """One `sources` entry of a ctf block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: CtfParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class CtfEntity(ConfigModel):
    """One ctf block: its metadata and its `sources`."""

    metadata: Ctf | None = None
    sources: Annotated[list[CtfSource], Field(min_length=1)]


class CrossReferences(ConfigModel):
    """The schema object `CrossReferences`."""

    dataset_citations: StrictStr | None = None
    publications: Annotated[StrictStr, CROSS_REFERENCES_PUBLICATIONS_PATTERN] | None = None
    related_database_entries: (
        Annotated[StrictStr, CROSS_REFERENCES_RELATED_DATABASE_ENTRIES_PATTERN] | None
    ) = None
    related_database_links: StrictStr | None = None


class DevelopmentStageDetails(ConfigModel):
    """The schema object `DevelopmentStageDetails`."""

    id: Annotated[StrictStr, DEVELOPMENT_STAGE_DETAILS_ID_PATTERN] | None = None
    name: StrictStr | None = None


class Disease(ConfigModel):
    """The schema object `Disease`."""

    id: Annotated[StrictStr, DISEASE_ID_PATTERN] | None = None
    name: StrictStr | None = None


class FundingDetails(ConfigModel):
    """The schema object `FundingDetails`."""

    funding_agency_name: StrictStr | None = None
    grant_id: StrictStr | None = None


class OrganismDetails(ConfigModel):
    """The schema object `OrganismDetails`."""

    name: StrictStr
    taxonomy_id: Annotated[int, scalar("integer", minimum=1)] | None = None


class TissueDetails(ConfigModel):
    """The schema object `TissueDetails`."""

    id: Annotated[StrictStr, TISSUE_DETAILS_ID_PATTERN] | None = None
    name: StrictStr


class Dataset(ConfigModel):
    """The schema object `Dataset`."""

    assay: Assay
    authors: Annotated[list[Author], Field(min_length=1)]
    cell_component: CellComponent | None = None
    cell_strain: CellStrain | None = None
    cell_type: CellType | None = None
    cross_references: CrossReferences | None = None
    dataset_description: StrictStr
    dataset_identifier: Annotated[int, scalar("integer")]
    dataset_title: StrictStr
    dates: DateStamp
    development_stage: DevelopmentStageDetails
    disease: Disease
    funding: list[FundingDetails] | None = None
    grid_preparation: StrictStr | None = None
    organism: OrganismDetails | None = None
    other_setup: StrictStr | None = None
    sample_preparation: StrictStr | None = None
    sample_type: SampleTypeEnum
    tissue: TissueDetails | None = None


class DatasetParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a dataset source."""

    deposition: list[StrictStr] | None = None


class DatasetParentFilters(ConfigModel):
    """`parent_filters` of a dataset source: `include`/`exclude` regexes per parent type."""

    exclude: DatasetParent | None = None
    include: DatasetParent | None = None


class DatasetSource(SourceEntry):
    """One `sources` entry of a dataset block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: DatasetParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class DatasetEntity(ConfigModel):
    """One dataset block: its metadata and its `sources`."""

    metadata: Dataset | None = None
    sources: Annotated[list[DatasetSource], Field(min_length=1)]


class DatasetKeyPhotoParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a dataset key photo source."""

    deposition: list[StrictStr] | None = None


class DatasetKeyPhotoParentFilters(ConfigModel):
    """`parent_filters` of a dataset key photo source: `include`/`exclude` regexes per parent type."""

    exclude: DatasetKeyPhotoParent | None = None
    include: DatasetKeyPhotoParent | None = None


class PicturePath(ConfigModel):
    """The schema object `PicturePath`."""

    snapshot: Annotated[StrictStr, PICTURE_PATH_PATTERN] | None = None
    thumbnail: Annotated[StrictStr, PICTURE_PATH_PATTERN] | None = None


class KeyPhotoLiteral(ConfigModel):
    """The schema object `KeyPhotoLiteral`."""

    value: PicturePath


class DatasetKeyPhotoSource(SourceEntry):
    """One `sources` entry of a dataset key photo block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: KeyPhotoLiteral | None = None
    parent_filters: DatasetKeyPhotoParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class DatasetKeyPhotoEntity(ConfigModel):
    """One dataset key photo block: its metadata and its `sources`."""

    sources: Annotated[list[DatasetKeyPhotoSource], Field(min_length=1)]


class Deposition(ConfigModel):
    """The schema object `Deposition`."""

    authors: Annotated[list[Author], Field(min_length=1)]
    cross_references: CrossReferences | None = None
    dates: DateStamp
    deposition_description: StrictStr
    deposition_identifier: Annotated[int, scalar("integer")]
    deposition_title: StrictStr
    deposition_types: Annotated[list[DepositionTypesEnum], Field(min_length=1)]
    tag: StrictStr | None = None


class DepositionSource(SourceEntry):
    """One `sources` entry of a deposition block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class DepositionEntity(ConfigModel):
    """One deposition block: its metadata and its `sources`."""

    metadata: Deposition | None = None
    sources: Annotated[list[DepositionSource], Field(min_length=1)]


class DepositionKeyPhotoParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a deposition key photo source."""

    deposition: list[StrictStr] | None = None


class DepositionKeyPhotoParentFilters(ConfigModel):
    """`parent_filters` of a deposition key photo source: `include`/`exclude` regexes per parent type."""

    exclude: DepositionKeyPhotoParent | None = None
    include: DepositionKeyPhotoParent | None = None


class DepositionKeyPhotoSource(SourceEntry):
    """One `sources` entry of a deposition key photo block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: KeyPhotoLiteral | None = None
    parent_filters: DepositionKeyPhotoParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class DepositionKeyPhotoEntity(ConfigModel):
    """One deposition key photo block: its metadata and its `sources`."""

    sources: Annotated[list[DepositionKeyPhotoSource], Field(min_length=1)]


class Frame(ConfigModel):
    """The schema object `Frame`."""

    dose_rate: Annotated[int | float | str, scalar("number", template="float")]
    is_gain_corrected: StrictBool


class FrameParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a frame source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class FrameParentFilters(ConfigModel):
    """`parent_filters` of a frame source: `include`/`exclude` regexes per parent type."""

    exclude: FrameParent | None = None
    include: FrameParent | None = None


class FrameSource(SourceEntry):
    """One `sources` entry of a frame block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: FrameParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class FrameEntity(ConfigModel):
    """One frame block: its metadata and its `sources`."""

    metadata: Frame | None = None
    sources: list[FrameSource] | None = None


class GainParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a gain source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class GainParentFilters(ConfigModel):
    """`parent_filters` of a gain source: `include`/`exclude` regexes per parent type."""

    exclude: GainParent | None = None
    include: GainParent | None = None


class GainSource(SourceEntry):
    """One `sources` entry of a gain block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: GainParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class GainEntity(ConfigModel):
    """One gain block: its metadata and its `sources`."""

    sources: Annotated[list[GainSource], Field(min_length=1)]


class IdentifiedObjectList(ConfigModel):
    """The schema object `IdentifiedObjectList`."""

    filter_value: StrictStr | None = None


class StandardSource(SourceEntry):
    """A `sources` entry with one of the standard finders."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class IdentifiedObjectEntity(ConfigModel):
    """One identified object block: its metadata and its `sources`."""

    metadata: IdentifiedObjectList | None = None
    sources: Annotated[list[StandardSource], Field(min_length=1)]


class KeyImageParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a key image source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None
    tomogram: list[StrictStr] | None = None
    voxel_spacing: list[StrictStr] | None = None


class KeyImageParentFilters(ConfigModel):
    """`parent_filters` of a key image source: `include`/`exclude` regexes per parent type."""

    exclude: KeyImageParent | None = None
    include: KeyImageParent | None = None


class KeyImageSource(SourceEntry):
    """One `sources` entry of a key image block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: KeyImageParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class KeyImageEntity(ConfigModel):
    """One key image block: its metadata and its `sources`."""

    sources: Annotated[list[KeyImageSource], Field(min_length=1)]


class RawTiltParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a raw tilt source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class RawTiltParentFilters(ConfigModel):
    """`parent_filters` of a raw tilt source: `include`/`exclude` regexes per parent type."""

    exclude: RawTiltParent | None = None
    include: RawTiltParent | None = None


class RawTiltSource(SourceEntry):
    """One `sources` entry of a raw tilt block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: RawTiltParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class RawTiltEntity(ConfigModel):
    """One raw tilt block: its metadata and its `sources`."""

    sources: Annotated[list[RawTiltSource], Field(min_length=1)]


class RunParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a run source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None


class RunParentFilters(ConfigModel):
    """`parent_filters` of a run source: `include`/`exclude` regexes per parent type."""

    exclude: RunParent | None = None
    include: RunParent | None = None


class RunSource(SourceEntry):
    """One `sources` entry of a run block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: RunParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class RunEntity(ConfigModel):
    """One run block: its metadata and its `sources`."""

    sources: Annotated[list[RunSource], Field(min_length=1)]


class StandardizationConfig(ConfigModel):
    """The schema object `StandardizationConfig`."""

    deposition_id: Annotated[int, scalar("integer")]
    run_data_map_file: StrictStr | None = None
    run_to_frame_map_csv: StrictStr | None = None
    run_to_tomo_map_csv: StrictStr | None = None
    run_to_ts_map_csv: StrictStr | None = None
    source_prefix: StrictStr


class MicroscopeDetails(ConfigModel):
    """The schema object `MicroscopeDetails`."""

    additional_info: StrictStr | None = None
    manufacturer: MicroscopeDetailsManufacturerValue
    model: StrictStr


class MicroscopeOpticalSetup(ConfigModel):
    """The schema object `MicroscopeOpticalSetup`."""

    energy_filter: StrictStr
    image_corrector: StrictStr | None = None
    phase_plate: StrictStr | None = None


class TiltRange(ConfigModel):
    """The schema object `TiltRange`."""

    max: Annotated[int | float | str, scalar("number", minimum=-90, maximum=90, template="any")]
    min: Annotated[int | float | str, scalar("number", minimum=-90, maximum=90, template="any")]


class TiltSeries(ConfigModel):
    """The schema object `TiltSeries`."""

    acceleration_voltage: Annotated[int | float | str, scalar("number", minimum=20000, template="any")]
    aligned_tiltseries_binning: (
        Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None
    ) = None
    binning_from_frames: (
        Annotated[int | float | str, scalar("number", minimum=0, template="any")] | None
    ) = None
    camera: CameraDetails
    data_acquisition_software: StrictStr
    frames_count: Annotated[int | str, scalar("integer", template="any")] | None = None
    is_aligned: StrictBool
    microscope: MicroscopeDetails
    microscope_optical_setup: MicroscopeOpticalSetup
    pixel_spacing: Annotated[int | float | str, scalar("number", minimum=0.001, template="any")]
    related_empiar_entry: Annotated[StrictStr, TILT_SERIES_RELATED_EMPIAR_ENTRY_PATTERN] | None = None
    spherical_aberration_constant: Annotated[int | float | str, scalar("number", minimum=0, template="any")]
    tilt_alignment_software: StrictStr | None = None
    tilt_axis: Annotated[int | float | str, scalar("number", minimum=-360, maximum=360, template="any")]
    tilt_range: TiltRange
    tilt_series_quality: Annotated[int | str, scalar("integer", minimum=1, maximum=5, template="any")]
    tilt_step: Annotated[int | float | str, scalar("number", minimum=0, maximum=90, template="any")]
    tilting_scheme: StrictStr
    total_flux: Annotated[int | float | str, scalar("number", minimum=0, template="any")]


class DestinationMetadataFilterKeyPair(ConfigModel):
    """The schema object `DestinationMetadataFilterKeyPair`."""

    key: Annotated[list[StrictStr], Field(min_length=1)]
    value: Any


class DestinationMetadataFilter(ConfigModel):
    """The schema object `DestinationMetadataFilter`."""

    filters: Annotated[list[DestinationMetadataFilterKeyPair], Field(min_length=1)]


class TiltSeriesParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a tilt series source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class TiltSeriesParentFilters(ConfigModel):
    """`parent_filters` of a tilt series source: `include`/`exclude` regexes per parent type."""

    exclude: TiltSeriesParent | None = None
    include: TiltSeriesParent | None = None


class TiltSeriesSource(SourceEntry):
    """One `sources` entry of a tilt series block."""

    destination_filter: DestinationMetadataFilter | None = None
    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: TiltSeriesParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class TiltSeriesEntity(ConfigModel):
    """One tilt series block: its metadata and its `sources`."""

    metadata: TiltSeries | None = None
    sources: Annotated[list[TiltSeriesSource], Field(min_length=1)]


class TomogramOffset(ConfigModel):
    """The schema object `TomogramOffset`."""

    x: Annotated[int | str, scalar("integer", template="any")]
    y: Annotated[int | str, scalar("integer", template="any")]
    z: Annotated[int | str, scalar("integer", template="any")]


class TomogramSize(ConfigModel):
    """The schema object `TomogramSize`."""

    x: Annotated[int | str, scalar("integer", minimum=0, template="any")]
    y: Annotated[int | str, scalar("integer", minimum=0, template="any")]
    z: Annotated[int | str, scalar("integer", minimum=0, template="any")]


class Tomogram(ConfigModel):
    """The schema object `Tomogram`."""

    affine_transformation_matrix: list[Any] | None = None
    align_software: StrictStr | None = None
    authors: Annotated[list[Author], Field(min_length=1)]
    cross_references: CrossReferences | None = None
    ctf_corrected: StrictBool | None = None
    dates: DateStamp
    fiducial_alignment_status: TomogramFiducialAlignmentStatusValue
    is_visualization_default: StrictBool
    offset: TomogramOffset
    processing: TomogramProcessingEnum
    processing_software: StrictStr | None = None
    reconstruction_method: TomogramReconstructionMethodValue
    reconstruction_software: StrictStr
    size: TomogramSize | None = None
    tomogram_version: Annotated[int | float | str, scalar("number", minimum=0, template="any")]
    voxel_spacing: Annotated[int | float | str, scalar("number", minimum=0.001, template="any")]


class TomogramParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a tomogram source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None
    voxel_spacing: list[StrictStr] | None = None


class TomogramParentFilters(ConfigModel):
    """`parent_filters` of a tomogram source: `include`/`exclude` regexes per parent type."""

    exclude: TomogramParent | None = None
    include: TomogramParent | None = None


class TomogramSource(SourceEntry):
    """One `sources` entry of a tomogram block."""

    destination_filter: DestinationMetadataFilter | None = None
    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    parent_filters: TomogramParentFilters | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class TomogramEntity(ConfigModel):
    """One tomogram block: its metadata and its `sources`."""

    metadata: Tomogram | None = None
    sources: Annotated[list[TomogramSource], Field(min_length=1)]


class TomogramHeader(ConfigModel):
    """The schema object `TomogramHeader`."""

    header_key: StrictStr | None = None
    list_glob: StrictStr
    match_regex: StrictStr | None = None


class VoxelSpacingLiteral(ConfigModel):
    """The schema object `VoxelSpacingLiteral`."""

    value: Annotated[
        list[Annotated[int | float | str, scalar("number", template="any")]], Field(min_length=1)
    ]


class VoxelSpacingParent(ConfigModel):
    """Regexes per parent type, used by the `parent_filters` of a voxel spacing source."""

    dataset: list[StrictStr] | None = None
    deposition: list[StrictStr] | None = None
    run: list[StrictStr] | None = None


class VoxelSpacingParentFilters(ConfigModel):
    """`parent_filters` of a voxel spacing source: `include`/`exclude` regexes per parent type."""

    exclude: VoxelSpacingParent | None = None
    include: VoxelSpacingParent | None = None


class VoxelSpacingSource(SourceEntry):
    """One `sources` entry of a voxel spacing block."""

    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: VoxelSpacingLiteral | None = None
    parent_filters: VoxelSpacingParentFilters | None = None
    source_glob: SourceGlob | None = None
    tomogram_header: TomogramHeader | None = None


class VoxelSpacingEntity(ConfigModel):
    """One voxel spacing block: its metadata and its `sources`."""

    sources: Annotated[list[VoxelSpacingSource], Field(min_length=1)]


class Container(ConfigModel):
    """The schema object `Container`."""

    alignments: list[AlignmentEntity] | None = None
    annotations: list[AnnotationEntity] | None = None
    collection_metadata: list[CollectionMetadataEntity] | None = None
    ctfs: list[CtfEntity] | None = None
    dataset_keyphotos: list[DatasetKeyPhotoEntity] | None = None
    datasets: Annotated[list[DatasetEntity], Field(min_length=1)]
    deposition_keyphotos: list[DepositionKeyPhotoEntity] | None = None
    depositions: Annotated[list[DepositionEntity], Field(min_length=1)]
    frames: list[FrameEntity] | None = None
    gains: list[GainEntity] | None = None
    identified_objects: list[IdentifiedObjectEntity] | None = None
    key_images: list[KeyImageEntity] | None = None
    rawtilts: list[RawTiltEntity] | None = None
    runs: Annotated[list[RunEntity], Field(min_length=1)]
    standardization_config: StandardizationConfig
    tiltseries: list[TiltSeriesEntity] | None = None
    tomograms: list[TomogramEntity] | None = None
    version: StrictStr
    voxel_spacings: Annotated[list[VoxelSpacingEntity], Field(min_length=1)]


class DateStampedEntity(ConfigModel):
    """Something with `dates`."""

    dates: DateStamp


class DefaultSource(SourceEntry):
    """A `sources` entry that only excludes names."""

    exclude: list[StrictStr] | None = None


class ExperimentMetadata(ConfigModel):
    """The schema object `ExperimentMetadata`."""

    assay: Assay
    cell_component: CellComponent | None = None
    cell_strain: CellStrain | None = None
    cell_type: CellType | None = None
    development_stage: DevelopmentStageDetails
    disease: Disease
    grid_preparation: StrictStr | None = None
    organism: OrganismDetails | None = None
    other_setup: StrictStr | None = None
    sample_preparation: StrictStr | None = None
    sample_type: SampleTypeEnum
    tissue: TissueDetails | None = None


class FundedEntity(ConfigModel):
    """Something with `funding`."""

    funding: list[FundingDetails] | None = None


class IdentifiedObject(ConfigModel):
    """The schema object `IdentifiedObject`."""

    object_description: StrictStr | None = None
    object_id: Annotated[StrictStr, ANNOTATION_OBJECT_ID_PATTERN]
    object_name: StrictStr
    object_state: StrictStr | None = None


class MetadataPicturePath(ConfigModel):
    """The schema object `MetadataPicturePath`."""

    snapshot: StrictStr | None = None
    thumbnail: StrictStr | None = None


class PerSectionAlignmentParameters(ConfigModel):
    """The schema object `PerSectionAlignmentParameters`."""

    beam_tilt: Annotated[int | float, scalar("number")] | None = None
    in_plane_rotation: list[Any] | None = None
    tilt_angle: Annotated[int | float, scalar("number")] | None = None
    volume_x_rotation: Annotated[int | float, scalar("number")] | None = None
    x_offset: Annotated[int | float, scalar("number")] | None = None
    y_offset: Annotated[int | float, scalar("number")] | None = None
    z_index: Annotated[int, scalar("integer", minimum=0)]


class PerSectionParameter(ConfigModel):
    """The schema object `PerSectionParameter`."""

    astigmatic_angle: Annotated[int | float, scalar("number", minimum=-180, maximum=180)] | None = None
    cross_correlation: Annotated[int | float, scalar("number")] | None = None
    frame_acquisition_order: Annotated[int, scalar("integer")]
    major_defocus: Annotated[int | float, scalar("number")] | None = None
    max_resolution: Annotated[int | float, scalar("number")] | None = None
    minor_defocus: Annotated[int | float, scalar("number")] | None = None
    phase_shift: Annotated[int | float, scalar("number")] | None = None
    raw_angle: Annotated[int | float, scalar("number", minimum=-90, maximum=90)] | None = None
    z_index: Annotated[int, scalar("integer", minimum=0)]


class PicturedEntity(ConfigModel):
    """Something with `key_photos` (portal paths or URLs)."""

    key_photos: PicturePath


class PicturedMetadataEntity(ConfigModel):
    """Something with `key_photos` (any strings)."""

    key_photos: MetadataPicturePath


class ReferencedSource(SourceEntry):
    """A `sources` entry with a standard finder or a `destination_filter`."""

    destination_filter: DestinationMetadataFilter | None = None
    destination_glob: DestinationGlob | None = None
    exclude: list[StrictStr] | None = None
    literal: StandardLiteral | None = None
    source_glob: SourceGlob | None = None
    source_multi_glob: SourceMultiGlob | None = None


class TiltSeriesSize(ConfigModel):
    """The schema object `TiltSeriesSize`."""

    x: Annotated[int, scalar("integer", minimum=0)]
    y: Annotated[int, scalar("integer", minimum=0)]
    z: Annotated[int, scalar("integer", minimum=0)]


class SourceLines:
    """Line lookup of a loaded config (YAML path -> 1-based line); never part of a config's equality."""

    def __init__(self, lookup: Callable[[tuple[str | int, ...]], int | None]) -> None:
        self._lookup = lookup

    def __call__(self, path: tuple[str | int, ...]) -> int | None:
        return self._lookup(path)

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, SourceLines)

    __hash__ = None  # type: ignore[assignment]


class IngestionConfig(Container):
    """A whole ingestion config file: the schema's root `Container`."""

    _source_lines: SourceLines | None = PrivateAttr(default=None)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the YAML node at `path` (YAML keys and list indices), if loaded from text."""
        if self._source_lines is None:
            return None
        return self._source_lines(tuple(path))


ENTITY_SECTIONS: tuple[str, ...] = tuple(
    info.alias or name
    for name, info in Container.model_fields.items()
    if name not in ("version", "standardization_config")
)
ANNOTATION_SHAPES: tuple[str, ...] = tuple(
    info.alias or name for name, info in AnnotationSource.model_fields.items() if name not in FILTER_KEYS
)


def field_spec(model: type[BaseModel], key: str) -> Number | type[BaseModel] | None:
    """What the YAML key `key` of `model` holds: a `Number` field, a nested model (also for a list of
    models) or None (anything else, or an unknown key)."""
    for name, info in model.model_fields.items():
        if key in (info.alias, name):
            for item in info.metadata:
                if isinstance(item, Number):
                    return item
            return _annotation_spec(info.annotation)
    return None


def _annotation_spec(annotation: Any) -> Number | type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is Annotated:
        for item in annotation.__metadata__:
            if isinstance(item, Number):
                return item
    for argument in get_args(annotation):
        spec = _annotation_spec(argument)
        if spec is not None:
            return spec
    return None
