import torch, numpy as np, sys
from sfplan.data import load_episodes, state_transitions
from sfplan.training.slow import split_episodes
from sfplan.world_model.state_predictor import StatePredictor
torch.set_num_threads(2); torch.manual_seed(0)
eps = load_episodes('data/robosuite-lift-full.h5', image_size=None)
train, held = split_episodes(eps, 30)
for dims in (9, 32):
    b, a, n = state_transitions(train, 1, 1)
    p = StatePredictor(dims, 7, 1, 256)
    p.fit(b[..., :dims], a, n[..., :dims], steps=int(sys.argv[1]), seed=0)
    hb, ha, hn = state_transitions(held, 8, 1)  # 8 single-step frames: actions (N, 8, 1, 7)
    hist = hb[..., :dims]
    errs = []
    with torch.no_grad():
        for k in range(8):
            hist = p(hist, ha[:, k:k+1])
    # hn is history 8 steps later
    err = 100 * (hist[:, -1, :3] - hn[:, -1, :3]).norm(dim=-1)
    print(dims, 'rolled 8 x 1-step eef error cm', err.mean().item())
