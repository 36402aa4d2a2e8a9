"""Surface extraction: marching tetrahedra on a density grid (our own, numpy).

The cube [-bound, bound]^3 is sampled on a (res + 1)^3 vertex grid; every grid cell is
cut into 6 tetrahedra around its main diagonal (a consistent split, so neighbouring cells
share faces and the surface is watertight where the level set is closed). In each
tetrahedron the iso-surface ``density == level`` is one triangle (one corner on the other
side) or a quad split into two triangles (two and two), with vertices linearly
interpolated on the crossing edges. Vertices on shared edges are merged. Triangles are
oriented with their normal pointing away from the dense side (outward).

Marching tetrahedra instead of marching cubes: no 256-case table to get right, no
ambiguous cases; the price is about twice as many triangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Tensor = torch.Tensor

# cube corner k sits at offset (k & 1, (k >> 1) & 1, (k >> 2) & 1)
_TETS = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]])


def _case_table() -> list[list[tuple[tuple[int, int], ...]]]:
    """For each of the 16 inside/outside patterns of a tetrahedron's 4 corners, the
    triangles as triples of crossing edges (corner pairs)."""
    table = []
    for case in range(16):
        inside = [k for k in range(4) if case >> k & 1]
        outside = [k for k in range(4) if not case >> k & 1]
        if len(inside) in (0, 4):
            table.append([])
        elif len(inside) in (1, 3):
            lone, others = (inside[0], outside) if len(inside) == 1 else (outside[0], inside)
            table.append([tuple((lone, o) for o in others)])
        else:
            (a, b), (c, d) = inside, outside
            table.append([((a, c), (a, d), (b, d)), ((a, c), (b, d), (b, c))])
    return table


_CASES = _case_table()


@dataclass
class Mesh:
    """``vertices`` [V, 3] float32 (scene units), ``faces`` [F, 3] int64 (0-based, counter-
    clockwise seen from outside), ``colors`` [V, 3] float32 in [0, 1] or None."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return len(self.faces) == 0


def marching_tetrahedra(values: np.ndarray, level: float, bound: float) -> Mesh:
    """The iso-surface ``values == level`` of a grid ``values`` [N, N, N] (indexed x, y, z)
    sampled at the N^3 points spanning [-bound, bound]^3; inside means ``values > level``."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if values.shape != (n, n, n) or n < 2:
        raise ValueError(f"need a cubic grid of at least 2^3 values, got {values.shape}")
    flat = values.reshape(-1)
    coords = np.linspace(-bound, bound, n)
    i, j, k = np.meshgrid(np.arange(n - 1), np.arange(n - 1), np.arange(n - 1), indexing="ij")
    base = (i * n * n + j * n + k).reshape(-1)  # vertex id of each cell's corner 0
    corner_offset = np.array([((c & 1) * n * n) + (((c >> 1) & 1) * n) + ((c >> 2) & 1) for c in range(8)])
    tri_edges = []  # [T, 3, 2] global vertex ids of the crossing edges
    tri_inside = []  # [T, 3] a point on the inside of each triangle's tetrahedron
    for tet in _TETS:
        vid = base[:, None] + corner_offset[tet][None, :]  # [C, 4]
        inside = flat[vid] > level
        case = (inside * (1 << np.arange(4))).sum(axis=1)
        for c, tris in enumerate(_CASES):
            if not tris:
                continue
            sel = vid[case == c]
            if sel.shape[0] == 0:
                continue
            ins = inside[case == c]
            for tri in tris:
                edges = np.stack([np.stack([sel[:, a], sel[:, b]], axis=-1) for a, b in tri], axis=1)
                tri_edges.append(edges)
                # mean of the tetrahedron's inside corners, to orient the triangle
                tri_inside.append((sel, ins))
    if not tri_edges:
        return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), None)
    edges = np.concatenate(tri_edges)  # [T, 3, 2]
    inside_pts = np.concatenate([_inside_mean(sel, ins, n, coords) for sel, ins in tri_inside])
    lo, hi = np.minimum(edges[..., 0], edges[..., 1]), np.maximum(edges[..., 0], edges[..., 1])
    keys = (lo * (n ** 3) + hi).reshape(-1)
    uniq, inverse = np.unique(keys, return_inverse=True)
    a, b = uniq // (n ** 3), uniq % (n ** 3)
    va, vb = flat[a], flat[b]
    s = np.clip((level - va) / np.where(np.abs(vb - va) < 1e-12, 1e-12, vb - va), 0.0, 1.0)
    pa, pb = _positions(a, n, coords), _positions(b, n, coords)
    verts = pa + s[:, None] * (pb - pa)
    faces = inverse.reshape(-1, 3)
    # orient: normal must point away from the inside corners
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = (normal * (tri.mean(axis=1) - inside_pts)).sum(axis=1) < 0
    faces[flip] = faces[flip][:, ::-1]
    # drop degenerate triangles (two vertices merged)
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return Mesh(verts.astype(np.float32), faces[keep].astype(np.int64), None)


def _positions(vid: np.ndarray, n: int, coords: np.ndarray) -> np.ndarray:
    return np.stack([coords[vid // (n * n)], coords[(vid // n) % n], coords[vid % n]], axis=-1)


def _inside_mean(sel: np.ndarray, ins: np.ndarray, n: int, coords: np.ndarray) -> np.ndarray:
    p = _positions(sel, n, coords)  # [C, 4, 3]
    w = ins[..., None].astype(np.float64)
    return (p * w).sum(axis=1) / w.sum(axis=1)


@torch.no_grad()
def extract_mesh(field, resolution: int = 64, level: float | None = None, chunk: int = 65536,
                 device: torch.device | str = "cpu") -> tuple[Mesh, float]:
    """Mesh of ``field``'s density iso-surface with vertex colours from its albedo.

    ``resolution``: grid cells per axis. ``level``: density threshold; None picks 5.0
    (per scene unit), or half the largest density when the field never reaches 5.
    Returns the mesh and the level used.
    """
    n = resolution + 1
    b = field.bound
    lin = torch.linspace(-b, b, n, device=device)
    pts = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), dim=-1).view(-1, 3)
    dens = torch.cat([field.density(pts[i:i + chunk]).float() for i in range(0, pts.shape[0], chunk)])
    grid = dens.view(n, n, n).cpu().numpy()
    if level is None:
        level = 5.0 if grid.max() > 5.0 else 0.5 * float(grid.max())
    mesh = marching_tetrahedra(grid, level, b)
    if not mesh.empty:
        v = torch.from_numpy(mesh.vertices).to(device)
        cols = torch.cat([field(v[i:i + chunk])[1].float() for i in range(0, v.shape[0], chunk)])
        mesh.colors = cols.cpu().numpy()
    return mesh, float(level)
