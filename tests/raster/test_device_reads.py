"""The device-read census (vecdistill/raster/device_reads.py): what it counts as a host read
of tensor values (a GPU sync), and that the render plan's scalar read counts once."""

import torch

from vecdistill.raster import rasterize
from vecdistill.raster.device_reads import count_device_reads
from vecdistill.raster.testscenes import circles_scene


def test_counts_value_reads_and_data_dependent_sizes_only():
    x = torch.tensor([0.0, 2.0, 0.0, 3.0])
    mask = x > 0

    def reads():
        y = (x * 2 + 1).cumsum(0)  # no reads
        torch.nonzero_static(mask, size=2)  # size given: no read
        torch.repeat_interleave(x, torch.tensor([1, 2, 1, 0]), output_size=4)
        float(y.sum())  # 1
        y.nonzero()  # 2
        x[mask]  # 3
        torch.repeat_interleave(x, torch.tensor([1, 2, 1, 0]))  # 4
        y.tolist()  # 5

    n, sites = count_device_reads(reads)
    assert n == 5, sites


def test_a_render_plans_scalar_read_counts_once():
    """The plan reads its opacities one ``item`` each on the CPU (one transfer on a GPU):
    one read however many paths; the per-operation CPU path's other reads do not grow with
    the number of paths either, except compositing's one per doubling step (the log2 of
    the most layers on one pixel)."""
    totals = []
    for n in (4, 64):
        scene = circles_scene(n, 32, generator=torch.Generator().manual_seed(0))
        rasterize(scene, 32, 32)  # the plan is built (its first read has its own count)
        total, sites = count_device_reads(lambda s=scene: rasterize(s, 32, 32))
        assert sites["plan.py _read (one transfer)"] == 1, sites
        # (compositing's doubling steps, and the exact pass over pixels crossed more than
        # once, which a scene of more small circles has more of, work apart)
        totals.append(total - sum(v for k, v in sites.items() if "_run_masks" in k or k.startswith("exact pass")))
    assert totals[0] == totals[1]
