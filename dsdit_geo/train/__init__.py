"""dsdit_geo.train: training data and the training loop.

Data side, one job per module: `sources` (find the imagery), `images` (read it once, uint8),
`split` (train / dev by scene, evaluation cases), `crops` (crop geometry), `degrade`
(HR -> LR -> HR grid), `refaug` (Ref augmentation / synthesis), `harmonise` (scene-level
Ref -> LR gain/offset), `dataset` (samples as a pure function of (seed, index), the sampler).
"""
