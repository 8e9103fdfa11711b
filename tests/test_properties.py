"""Property-based tests (hypothesis, derandomised): whatever a config, a data file or a model input holds,
the result is a valid value or the library's own one-line error, never another exception, and never a
non-finite value read from a data file."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warprnn import WARP, WarpConfig
from warprnn.data import files as loaders
from warprnn.errors import ConfigError, CorruptDataError, InputError
from warprnn.training.config import SECTIONS, ExperimentConfig, load_experiment, read_yaml

QUICK = settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    f"{section}.{f.name}"
    for section in sorted(SECTIONS)
    for f in dataclasses.fields(getattr(ExperimentConfig(), section))
]
VALUES = st.one_of(
    st.sampled_from(
        ["", "0", "-1", "1", "3", "1e-3", "1e999", ".inf", "nan", "true", "null", "abc", "[1", "{a: 1}", "'x'"]
    ),
    st.text(max_size=8),
)


def one_line(error: Exception) -> bool:
    return "\n" not in str(error) and bool(str(error))


@QUICK
@given(st.lists(st.tuples(st.one_of(st.sampled_from(KEYS + ["model"]), st.text(max_size=12)), VALUES), max_size=4))
def test_overrides_give_a_config_or_a_config_error(pairs):
    try:
        config = load_experiment(None, [f"{key}={value}" for key, value in pairs])
    except ConfigError as error:
        assert one_line(error)
        return
    for section in SECTIONS:
        for field in dataclasses.fields(getattr(config, section)):
            value = getattr(getattr(config, section), field.name)
            assert not isinstance(value, float) or math.isfinite(value), (section, field.name)


YAML_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.tuples(
            st.sampled_from(sorted(SECTIONS) + ["model", "bogus", "1"]),
            st.sampled_from(["", " 5", " [", " {epochs: 2}", "\n  lr: x", "\n\tepochs: 1", " !!python/name:os.system"]),
        ),
        max_size=4,
    ).map(lambda items: "\n".join(f"{k}:{v}" for k, v in items)),
)


@QUICK
@given(text=YAML_TEXT, raw=st.binary(max_size=16))
def test_config_files_give_a_config_or_a_config_error(tmp_path_factory, text, raw):
    path = tmp_path_factory.getbasetemp() / "property.yaml"
    for content in (text.encode("utf-8", "surrogatepass"), raw):
        path.write_bytes(content)
        try:
            ExperimentConfig.from_dict(read_yaml(path))
        except ConfigError as error:
            assert one_line(error)


TOKENS = st.sampled_from(["1", "-2.5", "0", "?", "NaN", "inf", "-inf", "1e999", "1e300", "", "x", " 3 ", "1_0"])
CASE = st.lists(st.lists(TOKENS, min_size=1, max_size=4).map(",".join), min_size=1, max_size=3).map(":".join)
TS_LINES = st.lists(st.tuples(CASE, st.sampled_from(["a", "b", "c", ""])).map(":".join), max_size=5)
HEADERS = st.sampled_from(
    [
        "@problemName P\n@dimensions 2\n@classLabel true a b\n@data",
        "@univariate true\n@classLabel true a b\n@data",
        "@dimensions six\n@classLabel true a b\n@data",
        "@classLabel false\n@data",
        "@equalLength true\n@classLabel true a b\n@data",
        "@data",
        "",
    ]
)


def check_ts(path):
    try:
        ts = loaders.read_ts(path)
    except CorruptDataError as error:
        assert one_line(error) and str(path) in str(error)
        return
    assert ts.cases and not any(np.isinf(case).any() for case in ts.cases)  # NaN only where '?' or NaN was written
    assert set(ts.labels) <= set(ts.classes)


@QUICK
@given(header=HEADERS, lines=TS_LINES, raw=st.binary(max_size=40))
def test_ts_reader_gives_finite_cases_or_a_corrupt_data_error(tmp_path_factory, header, lines, raw):
    path = tmp_path_factory.getbasetemp() / "property.ts"
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    check_ts(path)
    path.write_bytes(header.encode() + b"\n" + raw)
    check_ts(path)


CELLS = st.sampled_from(["1", "2.5", "-3", "inf", "nan", "", "x", "1e999"])
CSV_ROWS = st.lists(
    st.lists(CELLS, min_size=1, max_size=3).map(lambda cells: "2016-07-01," + ",".join(cells)), max_size=4
)


@QUICK
@given(header=st.sampled_from(["date,A,B", "date,A", "date", "time,A", ""]), rows=CSV_ROWS, raw=st.binary(max_size=30))
def test_csv_reader_gives_finite_values_or_a_corrupt_data_error(tmp_path_factory, header, rows, raw):
    path = tmp_path_factory.getbasetemp() / "property.csv"
    for content in ("\n".join([header, *rows]).encode(), header.encode() + b"\n" + raw):
        path.write_bytes(content)
        try:
            names, values = loaders.read_csv(path)
        except CorruptDataError as error:
            assert one_line(error)
            continue
        assert np.isfinite(values).all() and values.shape[1] == len(names)


IDX_PREFIX = st.sampled_from(
    [b"", b"\0\0\x08\x01", b"\0\0\x0d\x01\0\0\0\x02", b"\0\0\x08\x03\0\0\0\x01\0\0\0\x02", b"\0\0\x0e\xff"]
)


@QUICK
@given(prefix=IDX_PREFIX, raw=st.binary(max_size=24))
def test_idx_reader_gives_an_array_or_a_corrupt_data_error(tmp_path_factory, prefix, raw):
    path = tmp_path_factory.getbasetemp() / "property.idx"
    path.write_bytes(prefix + raw)
    try:
        array = loaders.read_idx(path)
    except CorruptDataError as error:
        assert one_line(error)
        return
    assert array.ndim == path.read_bytes()[3] and (array.dtype.kind != "f" or np.isfinite(array).all())


MODEL = WARP(WarpConfig(in_channels=2, root_width=4))
DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool]
FILLS = [0.0, 1.0, -1e30, math.nan, math.inf]


@st.composite
def model_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))
    x = torch.full(shape, draw(st.sampled_from(FILLS))).to(draw(st.sampled_from(DTYPES)))
    lengths = draw(
        st.one_of(
            st.none(),
            st.lists(st.integers(-1, 6), max_size=4).map(torch.tensor),
            st.lists(st.floats(0, 6), min_size=1, max_size=4).map(torch.tensor),
            st.just([2, 3]),
        )
    )
    return x, lengths, draw(st.sampled_from([None, 0, 1, 3, 10]))


@QUICK
@given(model_inputs())
def test_model_inputs_run_or_raise_an_input_error_naming_the_argument(inputs):
    x, lengths, context = inputs
    try:
        out = MODEL(x, lengths, context=context)
    except InputError as error:
        assert one_line(error) and str(error).split(":")[0] in ("x", "lengths", "context")
        return
    assert out.mean.shape == x.shape and torch.isfinite(out.mean).all()


@pytest.mark.parametrize("value", ["x", None, float("nan"), float("inf"), True, [1]])
def test_every_float_option_rejects_non_numbers(value):
    with pytest.raises(ConfigError, match="^final_clip: expected a finite number"):
        WarpConfig(final_clip=value)
