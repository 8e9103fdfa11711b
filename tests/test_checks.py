"""Every bad input raises a ValueError that names the argument and what was received."""

import pytest
import torch

from warprnn import WARP, WarpConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return WARP(WarpConfig(in_channels=2, root_width=4))


GOOD = torch.zeros(3, 6, 2)


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (torch.zeros(6, 2), {}, r"x: expected a 3-D tensor .* got shape \(6, 2\)"),
        (torch.zeros(3, 6, 3), {}, r"x: expected 2 channels .* got 3"),
        (torch.zeros(3, 1, 2), {}, r"x: sequences need at least 2 steps, got time = 1"),
        (torch.zeros(0, 6, 2), {}, r"x: expected a non-empty batch"),
        (torch.zeros(3, 6, 2, dtype=torch.long), {}, r"x: expected a floating-point tensor"),
        ([[0.0]], {}, r"x: expected a torch.Tensor"),
        (torch.zeros(3, 6, 2).index_fill_(1, torch.tensor([2]), float("nan")), {}, r"x: contains NaN or Inf"),
        (torch.zeros(3, 6, 2).index_fill_(1, torch.tensor([5]), float("inf")), {}, r"x: contains NaN or Inf"),
        (GOOD, {"context": 0}, r"context: expected an integer in \[1, 6\].* got 0"),
        (GOOD, {"context": 7}, r"context: expected an integer in \[1, 6\].* got 7"),
        (GOOD, {"context": 2.5}, r"context: .* got 2.5"),
        (GOOD, {"teacher_forcing": 1.5}, r"teacher_forcing: expected a probability in \[0, 1\], got 1.5"),
        (GOOD, {"mode": "fast"}, r"mode: expected one of \['reference', 'scan', 'conv', 'auto'\], got 'fast'"),
        (GOOD, {"mode": "conv", "context": 2}, r"mode: expected one of \['reference', 'scan', 'auto'\], got 'conv'"),
        (GOOD, {"lengths": torch.tensor([6, 1, 6])}, r"lengths: expected values in \[2, 6\], got min 1"),
        (GOOD, {"lengths": torch.tensor([6, 7, 6])}, r"lengths: expected values in \[2, 6\].* max 7"),
        (GOOD, {"lengths": torch.tensor([6, 6])}, r"lengths: expected an integer tensor of shape \(3,\), got \(2,\)"),
        (GOOD, {"lengths": torch.tensor([6.0, 6.0, 6.0])}, r"lengths: expected an integer tensor"),
    ],
)
def test_forward_rejects_bad_input(model, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model(x, **kwargs)


def test_nan_in_padding_is_allowed_but_not_in_valid_part(model):
    x = torch.zeros(2, 6, 2)
    x[0, 4:] = float("nan")
    out = model(x, torch.tensor([4, 6]))
    assert torch.isfinite(out.mean).all()
    with pytest.raises(ValueError, match="NaN"):
        model(x, torch.tensor([5, 6]))


def test_classification_has_no_autoregressive_mode():
    model = WARP(WarpConfig(in_channels=2, head="classification", num_classes=3))
    with pytest.raises(ValueError, match="classification head has no autoregressive mode"):
        model(GOOD, context=2)


def test_step_rejects_bad_input(model):
    state = model.init_state(3, seq_len=6)
    with pytest.raises(ValueError, match=r"x_t: expected shape \(3, 2\), got \(3, 6, 2\)"):
        model.step(GOOD, state)
    with pytest.raises(ValueError, match="x_t: contains NaN"):
        model.step(torch.full((3, 2), float("nan")), state)
    with pytest.raises(ValueError, match="seq_len: expected an integer >= 2, got 1"):
        model.init_state(3, seq_len=1)
    with pytest.raises(ValueError, match="batch_size"):
        model.init_state(0, seq_len=4)


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(root_activation="gelu"), r"root_activation: expected one of \[.*'relu'.*\], got 'gelu'"),
        (dict(head="poisson"), r"head: expected one of .* got 'poisson'"),
        (dict(root="kan"), r"root: expected one of .* got 'kan'"),
        (dict(theta0="zeros"), r"theta0: expected one of"),
        (dict(hypernet_depth=3), r"hypernet_depth: expected one of \[0, 1, 2\], got 3"),
        (dict(final_activation="sigmoid"), r"final_activation: expected one of"),
        (dict(final_clip=0.0), r"final_clip: expected a positive number"),
        (dict(in_channels=0), r"in_channels: expected an integer >= 1, got 0"),
        (dict(root_depth=-1), r"root_depth: expected an integer >= 0"),
        (dict(head="classification", num_classes=1), r"num_classes: expected an integer >= 2, got 1"),
        (dict(num_classes=3), r"num_classes: only used with head='classification'"),
        (dict(class_pool="mean"), r"class_pool: only used with head='classification', got head='point'"),
        (dict(head="classification", class_pool="max"), r"class_pool: expected one of \['last', 'mean'\]"),
        (dict(root="sine", head="gaussian"), r"head: root='sine' supports only 'point'"),
        (dict(root="msd", in_channels=3), r"in_channels: root='msd' predicts x or \(x, v\)"),
        (dict(root="sine", positional_encoding=2), r"root='sine' reads tau, not its positional encoding"),
        (dict(root="sine", input_prev_obs=True), r"input_prev_obs: root='sine' reads tau alone, so it must be False"),
        (
            dict(root="msd-oscillator", in_channels=2),
            r"input_prev_obs: root='msd-oscillator' integrates from the latest fed observation, so it must be "
            r"True, got False",
        ),
        (dict(root="msd-moments", in_channels=2), r"theta0: root='msd-moments' copies x_0"),
        (dict(ar_feed="mode"), r"ar_feed: expected one of \['mean', 'sample'\]"),
        (
            dict(root="msd-moments", in_channels=2, transition_norm="spectral"),
            r"transition_norm: root=.msd-moments. declares",
        ),
    ],
)
def test_config_rejects_bad_values(options, match):
    with pytest.raises(ValueError, match=match):
        WarpConfig(**options)


def test_msd_moments_root_needs_both_channels():
    with pytest.raises(ValueError, match=r"in_channels: root='msd-moments' reads and predicts \(x, v\), so 2, got 1"):
        WARP(WarpConfig(root="msd-moments", hypernet_depth=0))


def test_msd_oscillator_root_needs_both_channels():
    with pytest.raises(ValueError, match=r"in_channels: root='msd-oscillator' reads and predicts \(x, v\), so 2"):
        WARP(WarpConfig(root="msd-oscillator", input_prev_obs=True))


def test_classification_model_needs_num_classes():
    with pytest.raises(ValueError, match=r"num_classes: expected an integer >= 2 with head='classification', got None"):
        WARP(WarpConfig(head="classification"))


def test_config_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown warp option\(s\) \['widht'\]"):
        WarpConfig.from_dict({"in_channels": 2, "widht": 3})
    assert WarpConfig.from_dict({"in_channels": 2, "root_width": 3}).root_width == 3
