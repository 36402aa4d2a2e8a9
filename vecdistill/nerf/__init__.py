"""NeRF backend in plain torch (no CUDA extensions): the same priors and objectives as the
SVG pipelines, through a volume renderer.

- :mod:`.field` (+ :mod:`.grid`, :mod:`.mlp`): hash-grid radiance field, density blob.
- :mod:`.occupancy`: occupancy grid for empty-space skipping.
- :mod:`.sampler`, :mod:`.renderer`: stratified samples, alpha compositing, normals.
- :mod:`.shading`: albedo / lambertian / textureless, point light, background.
- :mod:`.cameras`: pinhole cameras, rays, random orbits, view suffixes, resolution schedule.
- :mod:`.dataset`: transforms.json (instant-ngp / nerfstudio) reading and writing.
- :mod:`.mesh`, :mod:`.export`: marching tetrahedra, PLY/OBJ, GIF/MP4, checkpoints.

The pipelines are :mod:`vecdistill.pipelines.nerf_make`, ``nerf_fit`` and ``nerf_edit``.
"""
