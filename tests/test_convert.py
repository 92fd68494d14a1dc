"""The authors' LeRobot ``vla0`` formulas, as the policy reproduces them for converted checkpoints.

The reference formulas below restate theirs (``modeling_vla0.py`` of
Robot-Learning-Collective/lerobot-experiments, branch ``balakhnov/rebase_vla0``); normalisation
is LeRobot's own processor step, as their pipeline runs it.
"""

from __future__ import annotations

import numpy as np
import torch
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.processor import NormalizerProcessorStep

from vla0_smol.tokens import EPS, NormalizedBins

NORM_MAP = {
    FeatureType.VISUAL: NormalizationMode.IDENTITY,
    FeatureType.STATE: NormalizationMode.MIN_MAX,
    FeatureType.ACTION: NormalizationMode.MIN_MAX,
}


def their_bins(normalised: torch.Tensor, n: int) -> torch.Tensor:
    """Their create_prefix_tokens: bucketize against the EPS-widened linspace, minus one."""
    edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)[:-1]
    return torch.bucketize(normalised, edges) - 1


def their_centres(discretized: torch.Tensor, n: int) -> torch.Tensor:
    """Their generate_actions: bin centres of the same linspace."""
    edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)
    return (0.5 * (edges[:-1] + edges[1:]))[discretized.clamp(0, n - 1)]


def test_normalized_bins_equal_their_formulas_on_random_and_edge_values():
    g = torch.Generator().manual_seed(0)
    for n in (2, 7, 256, 512, 1000):
        low = torch.tensor([-3.0, 0.0, 10.0, 5.0])
        high = torch.tensor([2.0, 1e-3, 10.5, 5.0])  # last dim constant: LeRobot's eps replaces 0
        nb = NormalizedBins(low.numpy(), high.numpy(), n)
        step = NormalizerProcessorStep(
            features={"action": PolicyFeature(FeatureType.ACTION, (4,))},
            norm_map=NORM_MAP,
            stats={"action": {"min": low, "max": high}},
        )
        raw = low - 0.2 * (high - low) + 1.4 * (high - low + 1e-3) * torch.rand(20_000, 4, generator=g)
        edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)
        # values on, just below and just above every edge, in normalised units, and back to raw
        on_edges = torch.cat([edges, torch.nextafter(edges, edges - 1), torch.nextafter(edges, edges + 1)])
        raw_edges = nb.unnormalize(on_edges[:, None].expand(-1, 4).contiguous())
        for x in (raw, raw_edges, low[None], high[None]):
            normalised = step._apply_transform(x, "action", FeatureType.ACTION)
            assert torch.equal(nb.normalize(x), normalised)  # bit for bit: LeRobot's float32 formula
            theirs = their_bins(normalised, n)
            ours = torch.from_numpy(nb.to_bins(x.numpy()))
            # the one deliberate difference: below the range they write -1 (unparseable), we write 0
            assert torch.equal(ours, theirs.clamp(min=0)), n
            assert theirs.max() <= n - 1 and theirs.min() >= -1
        all_bins = torch.arange(n)[:, None].expand(-1, 4)
        back = step._apply_transform(their_centres(all_bins, n), "action", FeatureType.ACTION, inverse=True)
        assert torch.equal(torch.from_numpy(nb.from_bins(all_bins.numpy())).float(), back)


def test_normalized_bins_relative_offset_is_in_normalised_units():
    nb = NormalizedBins([0.0, -1.0], [10.0, 1.0], 64)
    x, offset = np.array([[7.5, 0.25]]), np.array([0.5, -0.5])
    n = nb.normalize(x) - torch.tensor(offset, dtype=torch.float32)
    assert (nb.to_bins(x, offset) == their_bins(n, 64).numpy()).all()
    bins = nb.to_bins(x, offset)
    want = nb.unnormalize(their_centres(torch.from_numpy(bins), 64) + torch.tensor(offset, dtype=torch.float32))
    assert np.array_equal(nb.from_bins(bins, offset), want.double().numpy())
